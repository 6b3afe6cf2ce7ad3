"""Full training state for ``--resume``: weights, optimiser, schedule, scaler, RNG, history.

Tensors go to safetensors files, everything else to JSON; nothing is pickled. Each checkpoint is a new folder;
``checkpoints/last.json`` is switched to it atomically once it is complete, so a crash while writing leaves the previous
checkpoint in force. Resuming continues bit for bit: every optimiser-state tensor gets back its parameter's memory
layout (safetensors stores contiguous tensors, image encoders train in ``channels_last``, and fused AdamW assumes one
layout for both), and the torch, Python and NumPy RNGs are restored. Frozen encoders saved by reference
(:mod:`mmfusion.run.frozen`) are left out here too, as are the bases of encoders adapted with ``peft:`` (their
adapters are saved): state.json records their digests, and resuming checks them.
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..io import write_json_atomic, write_safetensors_atomic
from .checkpoint_files import Saved, find_checkpoint
from .errors import RunDirError, warn_caller
from .frozen import describe_source, reference_digest, without
from .layout import POINTER


def _split_optimizer(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors, scalars = {}, {}
    for pid, values in state["state"].items():
        for key, value in values.items():
            if torch.is_tensor(value):
                tensors[f"state.{pid}.{key}"] = value
            else:
                scalars[f"{pid}.{key}"] = value
    return tensors, {"scalars": scalars, "param_groups": state["param_groups"]}


def _join_optimizer(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for key, value in [*((k.removeprefix("state."), v) for k, v in tensors.items()), *meta["scalars"].items()]:
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def _host_rng_state() -> dict[str, Any]:
    """Python's and NumPy's global RNG states as JSON (plugins may draw from them while training)."""
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)  # type: ignore[misc]
    return {"python": [version, list(internal), gauss],
            "numpy": [name, [int(k) for k in keys], int(pos), int(has_gauss), float(cached)]}


def save_checkpoint(folder: Path, *, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    scheduler: Any, scaler: Any, trainer_state: dict[str, Any],
                    by_reference: Mapping[str, str] | None = None) -> Path:
    """Write a checkpoint for ``trainer_state['epoch']`` and make it the one ``--resume`` uses; ``by_reference``:
    modality → digest of the frozen encoders it leaves out."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"epoch-{trainer_state['epoch']:04d}"
    if target.exists():
        shutil.rmtree(target)
    target.mkdir()
    write_safetensors_atomic(target / "model.safetensors", without(model, by_reference or {}))
    opt_tensors, opt_meta = _split_optimizer(optimizer.state_dict())
    write_safetensors_atomic(target / "optimizer.safetensors", opt_tensors)
    rng = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        rng.update({f"cuda{i}": state for i, state in enumerate(torch.cuda.get_rng_state_all())})
    write_safetensors_atomic(target / "rng.safetensors", rng)
    write_json_atomic(target / "state.json", {
        "trainer": trainer_state,
        "optimizer": opt_meta,
        "scheduler": {k: v for k, v in scheduler.state_dict().items() if k != "lr_lambdas"},
        "scaler": scaler.state_dict() if scaler is not None else None,
        "host_rng": _host_rng_state(),
        **({"by_reference": dict(by_reference)} if by_reference else {}),
    })
    write_json_atomic(folder / POINTER, {"folder": target.name})
    for old in folder.glob("epoch-*"):
        if old != target and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
    return target


# ----- applying a checkpoint -----------------------------------------------------------------------
def _check_frozen(saved: Saved, model: torch.nn.Module) -> None:
    """The frozen encoders the checkpoint left out must hold, in the model built now, the tensors they held then."""
    encoders = getattr(model, "encoders", {})
    for modality, digest in saved.meta.get("by_reference", {}).items():
        if modality not in encoders:
            raise RunDirError(f"cannot resume: {saved.folder / 'state.json'} refers to the frozen weights of "
                              f"encoder '{modality}', which the model lacks; resume with the run's spec.yaml")
        encoder = encoders[modality]
        found = reference_digest(encoder)
        if found != digest:
            raise RunDirError(
                f"cannot resume: the checkpoint {saved.folder} refers to the frozen weights of encoder '{modality}' "
                f"({encoder.config.type}) with digest {digest}, but the ones loaded now from "
                f"{describe_source(encoder.config)} have digest {found}: they changed since the run started (another "
                "version of the file or package?). Restore those weights, or train without --resume into another --out")


def _check_model(saved: Saved, model: torch.nn.Module) -> None:
    """The checkpoint's tensors must be the model's, name for name and shape for shape (less the frozen encoders
    it refers to)."""
    expected = without(model, saved.meta.get("by_reference", {}))
    hint = ("the spec differs from the one this run was trained with (see spec.yaml in the run directory); "
            "resume with that spec, or train the edited spec without --resume into another --out")
    where = saved.folder / "model.safetensors"
    for name, tensor in expected.items():
        if name not in saved.model:
            raise RunDirError(f"cannot resume: the model has parameter '{name}' that {where} lacks; {hint}")
        if tuple(saved.model[name].shape) != tuple(tensor.shape):
            raise RunDirError(f"cannot resume: parameter '{name}' has shape {tuple(tensor.shape)} in the model "
                              f"but {tuple(saved.model[name].shape)} in {where}; {hint}")
    extra = [name for name in saved.model if name not in expected]
    if extra:
        raise RunDirError(f"cannot resume: {where} holds parameter '{extra[0]}' that the model lacks "
                          f"({len(extra)} such); {hint}")


def _restore_optimizer(saved: Saved, optimizer: torch.optim.Optimizer) -> None:
    """Load the optimiser state, giving each state tensor shaped like its parameter that parameter's layout."""
    where = saved.folder / "optimizer.safetensors"
    try:
        optimizer.load_state_dict(_join_optimizer(saved.optimizer, saved.meta["optimizer"]))
    except (ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise RunDirError(
            f"cannot resume: the optimiser state in {where} does not fit the model's trainable parameters ({exc}); was "
            "`freeze` or another model option changed in the spec? Resume with the run's spec.yaml, or train without "
            "--resume into another --out") from None
    for param, state in optimizer.state.items():
        for key, value in state.items():  # not AdamW's scalar step
            if torch.is_tensor(value) and value.shape == param.shape and value.stride() != param.stride():
                state[key] = torch.empty_like(param, dtype=value.dtype).copy_(value)


def load_checkpoint(folder: Path, *, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any,
                    scaler: Any, warn: Callable[[str], None] = warn_caller) -> dict[str, Any]:
    """Restore everything saved by :func:`save_checkpoint` (a RunDirError when no checkpoint is readable, or it belongs
    to another model); returns the trainer state. ``warn`` reports a fallback to an older checkpoint."""
    saved = find_checkpoint(folder, warn)
    _check_frozen(saved, model)
    _check_model(saved, model)
    model.load_state_dict(saved.model, strict=not saved.meta.get("by_reference"))  # the rest checked above
    _restore_optimizer(saved, optimizer)
    scheduler.load_state_dict({**scheduler.state_dict(), **saved.meta["scheduler"]})
    if scaler is not None and saved.meta["scaler"]:
        scaler.load_state_dict(saved.meta["scaler"])
    torch.set_rng_state(saved.rng["cpu"])
    cuda_states = [saved.rng[k] for k in sorted(saved.rng) if k.startswith("cuda")]
    if cuda_states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda_states)
    python_state, numpy_state = saved.meta["host_rng"]
    random.setstate(python_state)
    np.random.set_state(numpy_state)
    return saved.meta["trainer"]
