"""File writes that never leave a half-written file behind and fail with a message naming the path.

Every file mmfusion writes (run files, checkpoints, cached features, reports, predictions) goes through
:func:`write_atomic`, so a reader never sees half a file.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from torch import Tensor

from .errors import OutputError


def describe_os_error(exc: OSError) -> str:
    """``No space left on device`` style text for an OSError, with a hint where one helps."""
    reason = exc.strerror or str(exc)
    space, access = "free some space or write elsewhere", "choose a folder you can write to"
    hint = {errno.ENOSPC: space, errno.EDQUOT: space, errno.EACCES: access, errno.EPERM: access,
            errno.EFBIG: "the file exceeds a size limit of this system or process (ulimit -f)",
            errno.EROFS: "the file system is read-only; choose another folder"}.get(exc.errno or -1)
    return f"{reason} ({hint})" if hint else reason


def ensure_folder(path: Path, what: str = "folder") -> Path:
    """Create ``path`` (and its parents) as a folder, or say why it cannot be one.

    Raises:
        OutputError: the path is an existing file, or the folder cannot be created.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{what} {path} is an existing file, not a folder; choose another path")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create {what} {path}: {describe_os_error(exc)}") from None
    return path


def _umask() -> int:
    """The process umask, read without changing it where the OS allows (``/proc/self/status`` on Linux), else
    by setting and restoring it, at the first write rather than at import."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def check_output_file(path: Path, option: str) -> None:
    """Fail before any work, with an OutputError naming ``option``, when an output path cannot become a file (a
    folder, or a file as its folder)."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{option} {path} is a folder; give a file path (e.g. {path / 'out.csv'})")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise OutputError(f"{option} {path}: {parent} is a file, not a folder")
            break


def write_atomic(path: Path, write: Callable[[str], None]) -> None:
    """Call ``write(tmp)`` to produce the file at a temporary path beside ``path``, flush it to disk and rename it
    over ``path``, with the permissions ``open(path, "w")`` would give. Devices and pipes (``/dev/stdout``,
    ``/dev/full``, a FIFO) are written directly: never renamed over.

    Raises:
        OutputError: the folder or file cannot be written (full disk, read-only, a size limit, a folder
            in the way); nothing is left behind.
    """
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"cannot write {path}: it is a folder; give a file path")
    in_place = path.exists() and not path.is_file()
    if not in_place:
        ensure_folder(path.parent)
    tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        if in_place:
            write(str(path))
            return
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        write(str(tmp))
        os.chmod(tmp, 0o666 & ~_umask())  # some writers (safetensors) recreate the file owner-only
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {describe_os_error(exc)}") from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def write_text_atomic(path: Path, text: str) -> None:
    write_atomic(Path(path), lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def write_json_atomic(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, default=str) + "\n")


def write_safetensors_atomic(path: Path, tensors: Mapping[str, Tensor], metadata: Mapping[str, str] | None = None
                             ) -> None:
    from safetensors.torch import save_file

    clean, seen = {}, set()
    for key, value in tensors.items():
        value = value.detach().cpu().contiguous()
        pointer = value.untyped_storage().data_ptr() if value.numel() else None
        if pointer is not None and pointer in seen:  # tied weights: safetensors refuses shared storage
            value = value.clone()
        seen.add(pointer)
        clean[key] = value

    def write(tmp: str) -> None:
        try:
            # no tensors with an empty metadata dict makes safetensors write a header it cannot read back
            save_file(clean, tmp, metadata=dict(metadata) if metadata else None)
        except Exception as exc:
            # safetensors reports I/O failures as ``SafetensorError('... (os error 28)')``: recover the OSError
            match = re.search(r"os error (\d+)", str(exc))
            if isinstance(exc, OSError) or not match:
                raise
            raise OSError(int(match.group(1)), os.strerror(int(match.group(1)))) from None

    write_atomic(Path(path), write)


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))
