"""One writer per run directory: the lock file, live and stale holders, other hosts, takeovers."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mmfusion.errors import MMFusionError
from mmfusion.run import lock as runlock
from mmfusion.run.errors import RunDirError
from mmfusion.run.lock import LOCK_NAME, RunLock

HOLD = """\
import sys
from pathlib import Path
from mmfusion.run.lock import RunLock
lock = RunLock.acquire(Path(sys.argv[1]))
print("locked", flush=True)
sys.stdin.read()
lock.release()
"""


def _dead_pid() -> int:
    """The PID of a process that has finished (and been reaped)."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    return int(done.stdout)


def _write_lock(run: Path, **holder: object) -> Path:
    path = run / LOCK_NAME
    path.write_text(json.dumps({"host": socket.gethostname(), **holder}))
    return path


def test_the_lock_names_its_holder_and_is_gone_after_release(tmp_path: Path) -> None:
    with RunLock.acquire(tmp_path) as lock:
        holder = json.loads((tmp_path / LOCK_NAME).read_text())
        assert holder["pid"] == os.getpid() and holder["host"] == socket.gethostname()
        assert lock.path == tmp_path / LOCK_NAME
    assert not (tmp_path / LOCK_NAME).exists()
    lock.release()  # twice is harmless


def test_a_lock_held_by_a_live_process_fails_at_once_and_is_taken_over_once_it_is_killed(tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"  # type: ignore[union-attr]
        started = time.monotonic()
        with pytest.raises(RunDirError) as caught:
            RunLock.acquire(tmp_path)
        assert time.monotonic() - started < 1.0
        message = str(caught.value)
        assert isinstance(caught.value, MMFusionError)
        assert f"run directory {tmp_path} is in use" in message
        assert f"process {holder.pid} on host {socket.gethostname()}" in message
        assert f"kill {holder.pid}" in message and "choose another --out" in message
    finally:
        holder.send_signal(signal.SIGKILL)  # dies without releasing: the lock file stays behind
        holder.wait()
    assert (tmp_path / LOCK_NAME).exists()
    with pytest.warns(UserWarning, match=f"took over the lock .* process {holder.pid} .* no longer running"):
        lock = RunLock.acquire(tmp_path)
    assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()
    lock.release()


def test_a_lock_file_naming_a_running_process_is_respected(tmp_path: Path) -> None:
    _write_lock(tmp_path, pid=os.getpid())  # as if another training in this very process held it
    with pytest.raises(RunDirError, match=f"process {os.getpid()} on host"):
        RunLock.acquire(tmp_path)
    assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()


def test_a_stale_lock_is_taken_over_with_a_warning(tmp_path: Path) -> None:
    pid = _dead_pid()
    _write_lock(tmp_path, pid=pid)
    with pytest.warns(UserWarning, match=f"process {pid} on this host .* is no longer running"):
        lock = RunLock.acquire(tmp_path)
    lock.release()
    messages: list[str] = []
    _write_lock(tmp_path, pid=pid)
    RunLock.acquire(tmp_path, warn=messages.append).release()  # the trainer passes its reporter's warn
    assert len(messages) == 1 and str(tmp_path / LOCK_NAME) in messages[0]


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="process start times come from /proc")
def test_a_reused_pid_or_a_restarted_host_does_not_keep_a_lock(tmp_path: Path) -> None:
    _write_lock(tmp_path, pid=os.getpid(), pid_start="1")  # the PID is running, but started at another time
    with pytest.warns(UserWarning, match="the PID now belongs to another program"):
        RunLock.acquire(tmp_path).release()
    _write_lock(tmp_path, pid=os.getpid(), boot="another-boot")
    with pytest.warns(UserWarning, match="has restarted"):
        RunLock.acquire(tmp_path).release()


def test_a_lock_from_another_host_is_respected_and_says_how_to_remove_it(tmp_path: Path) -> None:
    path = tmp_path / LOCK_NAME
    path.write_text(json.dumps({"host": "gpu-node-7", "pid": _dead_pid()}))
    with pytest.raises(RunDirError) as caught:
        RunLock.acquire(tmp_path)
    message = str(caught.value)
    assert "on host gpu-node-7" in message and "another host, gpu-node-7" in message
    assert f"delete {path}" in message
    assert path.exists()


def test_a_lock_from_another_host_is_taken_over_when_a_shared_study_saw_its_worker_die(tmp_path: Path) -> None:
    path = tmp_path / LOCK_NAME
    path.write_text(json.dumps({"host": "gpu-node-7", "pid": 4242}))
    with pytest.warns(UserWarning, match="process 4242 on host gpu-node-7: its worker's heartbeat stopped"):
        lock = RunLock.acquire(tmp_path, elsewhere_gone="its worker's heartbeat stopped")
    assert json.loads(path.read_text())["host"] == socket.gethostname()
    lock.release()


def test_a_live_holder_on_this_host_is_respected_even_when_told_it_is_gone(tmp_path: Path) -> None:
    _write_lock(tmp_path, pid=os.getpid())
    with pytest.raises(RunDirError, match=f"process {os.getpid()} on host"):
        RunLock.acquire(tmp_path, elsewhere_gone="its worker's heartbeat stopped")


def test_the_lock_file_masks_passwords_in_the_command_line() -> None:
    command = "mmfusion ablate s.yaml --storage postgresql://me:p@ss@db/x --out o"
    assert runlock.mask_passwords(command) == "mmfusion ablate s.yaml --storage postgresql://me:***@db/x --out o"
    assert runlock.mask_passwords("sqlite:///runs/study.db") == "sqlite:///runs/study.db"


def test_an_empty_lock_file_nobody_holds_is_taken_over_after_a_grace_period(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runlock, "_WRITING_GRACE_S", 0.2)
    (tmp_path / LOCK_NAME).write_text("")  # left by a crash between creating and writing it
    with pytest.warns(UserWarning, match="empty or unreadable"):
        RunLock.acquire(tmp_path).release()
    assert not (tmp_path / LOCK_NAME).exists()
