"""Finding a checkpoint to resume from, and reading every one of its files before anything is applied.

An unusable ``checkpoints/last.json`` falls back to the newest complete ``epoch-*`` folder, a damaged file to the next
older complete checkpoint, with a warning; only when none is left is it an error naming the file.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..io import read_json
from .errors import RunDirError, UnreadableFile
from .frozen import host_rng_kept
from .layout import POINTER

FILES = ("model.safetensors", "optimizer.safetensors", "rng.safetensors", "state.json")
TRAINER_KEYS = ("epoch", "history", "best", "best_epoch", "stale")


@dataclass
class Saved:
    """Everything one checkpoint folder holds, read and checked, nothing applied yet."""

    folder: Path
    model: dict[str, torch.Tensor]
    optimizer: dict[str, torch.Tensor]
    rng: dict[str, torch.Tensor]
    meta: dict[str, Any]


def _host_rng_from_json(data: dict[str, Any]) -> tuple[tuple, tuple]:
    """The Python and NumPy RNG states saved by the checkpoint, checked by setting them (then the current ones
    again); KeyError, TypeError, ValueError or OverflowError when malformed."""
    version, internal, gauss = data["python"]
    python_state = (version, tuple(int(i) for i in internal), gauss)
    name, keys, pos, has_gauss, cached = data["numpy"]
    numpy_state = (str(name), np.asarray(keys, dtype=np.uint32), int(pos), int(has_gauss), float(cached))
    with host_rng_kept():
        random.setstate(python_state)
        np.random.set_state(numpy_state)
    return python_state, numpy_state


def _epoch_of(path: Path) -> int:
    try:
        return int(path.name.removeprefix("epoch-"))
    except ValueError:
        return -1


def _complete_folders(folder: Path) -> list[Path]:
    """``epoch-*`` folders holding every checkpoint file, newest first."""
    found = [p for p in folder.glob("epoch-*") if p.is_dir() and _epoch_of(p) >= 0
             and all((p / name).is_file() for name in FILES)]
    return sorted(found, key=_epoch_of, reverse=True)


def _pointed_folder(pointer: Path) -> tuple[Path | None, str]:
    """The folder ``last.json`` names, or None and why it cannot be used."""
    try:
        data = read_json(pointer)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, f"it is not readable JSON ({exc})"
    name = data.get("folder") if isinstance(data, dict) else None
    if not isinstance(name, str) or not name.startswith("epoch-") or Path(name).name != name:
        return None, f'it does not name a checkpoint folder (expected {{"folder": "epoch-NNNN"}}, found {data!r:.80})'
    target = pointer.parent / name
    missing = [f for f in FILES if not (target / f).is_file()]
    if missing:
        return None, f"the folder it names, {target}, is {'missing' if not target.is_dir() else 'incomplete'}" + \
            (f" (no {', '.join(missing)})" if target.is_dir() else "")
    return target, ""


def _read_tensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise UnreadableFile(path, f"truncated or corrupt ({exc})") from None


def _read(target: Path) -> Saved:
    """Read and check every file of one checkpoint folder (``UnreadableFile`` names the first bad one)."""
    state_path = target / "state.json"
    try:
        meta = read_json(state_path)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UnreadableFile(state_path, f"truncated or corrupt ({exc})") from None
    trainer = meta.get("trainer") if isinstance(meta, dict) else None
    optimizer = meta.get("optimizer") if isinstance(meta, dict) else None
    if not isinstance(trainer, dict) or any(k not in trainer for k in TRAINER_KEYS) \
            or not isinstance(optimizer, dict) or not {"scalars", "param_groups"} <= optimizer.keys() \
            or not isinstance(meta.get("scheduler"), dict) or "scaler" not in meta or "host_rng" not in meta:
        raise UnreadableFile(state_path, "incomplete (it lacks the trainer, optimiser, scheduler or random state)")
    by_reference = meta.get("by_reference", {})
    if not isinstance(by_reference, dict) or not all(isinstance(v, str) for v in by_reference.values()):
        raise UnreadableFile(state_path, "corrupt (its digests of the frozen encoders it leaves out are malformed)")
    try:
        meta["host_rng"] = _host_rng_from_json(meta["host_rng"])
    except (KeyError, TypeError, ValueError, OverflowError):
        raise UnreadableFile(state_path, "corrupt (its random-number-generator state is malformed)") from None
    rng = _read_tensors(target / "rng.safetensors")
    cpu = rng.get("cpu")
    if cpu is None or cpu.dtype != torch.uint8 or cpu.shape != torch.get_rng_state().shape:
        raise UnreadableFile(target / "rng.safetensors", "it holds no valid CPU random-number-generator state")
    return Saved(target, _read_tensors(target / "model.safetensors"),
                 _read_tensors(target / "optimizer.safetensors"), rng, meta)


def find_checkpoint(folder: Path, warn: Callable[[str], None]) -> Saved:
    """The newest readable checkpoint: the one ``last.json`` names, else the newest complete older one."""
    pointer = folder / POINTER  # there: the run directory was claimed for --resume (run.write.claim_run_dir)
    target, why = _pointed_folder(pointer)
    candidates = _complete_folders(folder)
    if target is None:
        if not candidates:
            raise RunDirError(f"cannot resume: {pointer} cannot be used: {why}, and {folder} holds no complete epoch-* "
                              f"checkpoint folder to fall back to. Start the run again without --resume (delete "
                              f"{folder.parent} or choose another --out)")
        warn(f"{pointer} cannot be used: {why}; resuming from the newest complete checkpoint, {candidates[0]}")
    else:
        candidates = [target] + [c for c in candidates if c != target and _epoch_of(c) < _epoch_of(target)]
    problems: list[UnreadableFile] = []
    for candidate in candidates:
        try:
            saved = _read(candidate)
        except UnreadableFile as exc:
            problems.append(exc)
            continue
        if problems:
            warn(f"checkpoint file {problems[0].path} is {problems[0].reason}; resuming from the older complete "
                 f"checkpoint {candidate} instead (the epochs after it are trained again)")
        return saved
    first = problems[0]
    older = ("there is no older complete checkpoint to fall back to" if len(problems) == 1
             else f"the {len(problems) - 1} older checkpoint(s) are unreadable too")
    raise RunDirError(f"cannot resume: checkpoint file {first.path} is {first.reason}, and {older}. Start the run "
                      f"again without --resume (delete {folder.parent} or choose another --out)")
