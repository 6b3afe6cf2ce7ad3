"""Atomic file writes: a reader never sees a half-written checkpoint, JSON or table."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import Tensor


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()  # read once, at import: os.umask can only be read by setting it


def _atomic(path: Path, write) -> None:  # type: ignore[no-untyped-def]
    """Write to a temporary file beside ``path``, flush it to disk, then rename it over ``path``.

    The file gets the permissions an ordinary ``open(path, "w")`` would (mkstemp's are owner-only).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)

    _atomic(Path(path), write)


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
    _atomic(Path(path), lambda tmp: save_file(clean, tmp, metadata=dict(metadata or {})))


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))
