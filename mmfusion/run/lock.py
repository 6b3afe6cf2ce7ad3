"""One writer per run directory: training holds ``RUN/.lock`` from start to end (two trainings in one folder
overwrite each other's checkpoints, and one dies later with a confusing state-dict error).

The lock file is created atomically (``O_CREAT | O_EXCL``) and names its holder (host, PID, process start time, boot
id, command); where ``fcntl`` exists the holder also keeps an ``flock`` on it, which the kernel drops however the
process dies: a takeover is race-free and a reused PID recognised. A lock left by a process that is gone (same host)
is taken over with a warning; one from another host cannot be checked from here and is respected.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import RunDirError, warn_caller

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: PID liveness only
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = ".lock"
_WRITING_GRACE_S = 2.0  # how long an empty lock file is taken for one being written right now


def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None


def _stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/PID/stat`` after "pid (comm) " (Linux): the state first, the start time 20th."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rfind(")") + 2:].split()


def _process_start(pid: int) -> str | None:
    """The start time of ``pid`` in clock ticks since boot, to tell a reused PID from its first owner."""
    fields = _stat(pid)
    return fields[19] if fields and len(fields) > 19 else None


def _pid_running(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except PermissionError:  # another user's process: it exists
        return True
    except OSError:
        return False
    fields = _stat(pid)  # an exited child not yet reaped by its parent is a zombie: it holds nothing
    return not fields or fields[0] != "Z"


def _describe(holder: dict[str, Any] | None) -> str:
    if holder is None:
        return "an unknown process (the lock file is empty or unreadable)"
    started, command = holder.get("started"), holder.get("command")
    return (f"process {holder.get('pid')} on host {holder.get('host')}" + (f", started {started}" if started else "")
            + (f" ({command})" if command else ""))


def _stale_reason(holder: dict[str, Any]) -> str | None:
    """Why the holder is certainly gone, or None when it may still be training."""
    host, pid = holder.get("host"), holder.get("pid")
    if host != socket.gethostname() or not isinstance(pid, int):
        return None
    boot = _boot_id()
    if boot and holder.get("boot") and holder["boot"] != boot:
        return f"host {host} has restarted since process {pid} took it"
    if not _pid_running(pid):
        return f"process {pid} on this host ({host}) is no longer running"
    start = _process_start(pid)
    if start and holder.get("pid_start") and holder["pid_start"] != start:
        return f"process {pid} on this host ({host}) is no longer running (the PID now belongs to another program)"
    return None


def _locked_error(run_dir: Path, path: Path, holder: dict[str, Any] | None) -> RunDirError:
    here = socket.gethostname()
    if holder is not None and holder.get("host") not in (None, here):
        gone = (f"The lock was taken on another host, {holder.get('host')}, so it cannot be checked from here "
                f"({here}); if no training runs there any more, delete {path} and retry.")
    else:
        pid = holder.get("pid") if holder else None
        gone = (f"Wait for it to finish, or stop it{f' (kill {pid})' if pid else ''}; "
                f"if you are sure no training uses {run_dir}, delete {path} and retry.")
    return RunDirError(f"run directory {run_dir} is in use: {_describe(holder)} is training into it "
                       f"(it holds {path}). {gone} To train the same spec alongside it, choose another --out.")


class RunLock:
    """An exclusive lock on a run directory, held from :meth:`acquire` until :meth:`release`."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path, self._fd = path, fd

    @classmethod
    def acquire(cls, run_dir: Path, *, warn: Callable[[str], None] = warn_caller,
                elsewhere_gone: str | None = None) -> RunLock:
        """Take the lock of ``run_dir`` (which must exist), taking over a stale one with a warning; a RunDirError
        when another process holds it, or may hold it (another host).

        ``elsewhere_gone``: the caller knows that a holder on *another* host is gone, and why (a shared study saw
        its worker's heartbeat stop); such a lock is taken over. A holder on this host is still checked here.
        """
        run_dir = Path(run_dir)
        path = run_dir / LOCK_NAME
        first_seen: dict[int, float] = {}  # lock file (inode) → when first found; patience is per file
        while True:
            with contextlib.suppress(FileExistsError):
                return cls._own(path, os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o644))
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:  # released or taken over meanwhile: try again
                continue
            try:
                seen = first_seen.setdefault(os.fstat(fd).st_ino, time.monotonic())
                reason = cls._check_stale(run_dir, path, fd, patient=time.monotonic() - seen < _WRITING_GRACE_S,
                                          elsewhere_gone=elsewhere_gone)
                if reason is None:
                    time.sleep(0.05)
                    continue
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
                if same:
                    os.unlink(path)
            except FileNotFoundError:
                continue
            finally:
                os.close(fd)
            if same:
                warn(f"took over the lock {path} left by a training that is gone: {reason}. The run may be incomplete; "
                     "continue it with --resume where it has a checkpoint")

    @staticmethod
    def _check_stale(run_dir: Path, path: Path, fd: int, *, patient: bool, elsewhere_gone: str | None = None
                     ) -> str | None:
        """Why the lock file open at ``fd`` is stale; None to look again shortly; a RunDirError when it is held."""
        flocked: bool | None = None
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # kept until fd is closed: no one else takes over
                flocked = True
            except BlockingIOError:
                flocked = False
        try:
            holder = json.loads(os.read(fd, 1 << 16))
            holder = holder if isinstance(holder, dict) else None
        except (UnicodeDecodeError, json.JSONDecodeError):
            holder = None
        reason = _stale_reason(holder) if holder is not None else None
        if reason is None and elsewhere_gone and holder is not None and holder.get("host") != socket.gethostname():
            return f"{_describe(holder)}: {elsewhere_gone}"  # another host's flock does not reach us
        if (holder is not None and reason is None) or (flocked is False and not patient):
            raise _locked_error(run_dir, path, holder)
        if patient and (flocked is False or holder is None):
            return None  # being written, or being taken over by another process right now
        return reason or "the lock file is empty or unreadable and no process holds it"

    @classmethod
    def _own(cls, path: Path, fd: int) -> RunLock:
        try:
            if fcntl is not None:  # blocking: another process may be looking at the new, still empty file
                fcntl.flock(fd, fcntl.LOCK_EX)
            info = {"host": socket.gethostname(), "pid": os.getpid(), "pid_start": _process_start(os.getpid()),
                    "boot": _boot_id(), "started": time.strftime("%Y-%m-%d %H:%M:%S"), "command": _command()}
            os.write(fd, json.dumps(info).encode())
            os.fsync(fd)
        except BaseException:
            os.unlink(path)
            os.close(fd)
            raise
        return cls(path, fd)

    def release(self) -> None:
        """Remove the lock file (if it is still ours) and drop the lock; safe to call twice."""
        if self._fd is None:
            return
        try:
            with contextlib.suppress(OSError):
                if os.fstat(self._fd).st_ino == os.stat(self.path).st_ino:
                    os.unlink(self.path)
        finally:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _command() -> str | None:
    """This process's command line, shortened: ``mmfusion train spec.yaml --out run`` rather than full paths."""
    if not sys.argv or not sys.argv[0]:
        return None
    program = Path(sys.argv[0])
    name = program.parent.name if program.name == "__main__.py" else program.name  # python -m mmfusion
    return mask_passwords(" ".join([name, *sys.argv[1:]]))[:300]


def mask_passwords(text: str) -> str:
    """URLs in ``text`` with their passwords replaced (``--storage postgresql://me:secret@host/db``): a lock file
    on a shared filesystem is readable by others."""
    return re.sub(r"(\w[\w+.-]*:/+[^\s:/@]+:)\S*@", r"\1***@", text)
