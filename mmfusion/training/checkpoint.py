"""Full training state for ``--resume``: weights, optimiser, schedule, scaler, RNG, history.

Tensors go to safetensors files, everything else to JSON; nothing is pickled. Each checkpoint is a
new folder; ``checkpoints/last.json`` is switched to it atomically once it is complete, so a crash
while writing leaves the previous checkpoint in force.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import torch

from ..errors import MMFusionError
from ..io import read_json, write_json_atomic, write_safetensors_atomic

POINTER = "last.json"


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
    for key, value in tensors.items():
        _, pid, name = key.split(".", 2)
        state.setdefault(int(pid), {})[name] = value
    for key, value in meta["scalars"].items():
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def save_checkpoint(folder: Path, *, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    scheduler: Any, scaler: Any, trainer_state: dict[str, Any]) -> Path:
    """Write a checkpoint for ``trainer_state['epoch']`` and make it the one ``--resume`` uses."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"epoch-{trainer_state['epoch']:04d}"
    if target.exists():
        shutil.rmtree(target)
    target.mkdir()
    write_safetensors_atomic(target / "model.safetensors", model.state_dict())
    opt_tensors, opt_meta = _split_optimizer(optimizer.state_dict())
    write_safetensors_atomic(target / "optimizer.safetensors", opt_tensors)
    rng = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            rng[f"cuda{i}"] = state
    write_safetensors_atomic(target / "rng.safetensors", rng)
    write_json_atomic(target / "state.json", {
        "trainer": trainer_state,
        "optimizer": opt_meta,
        "scheduler": {k: v for k, v in scheduler.state_dict().items() if k != "lr_lambdas"},
        "scaler": scaler.state_dict() if scaler is not None else None,
    })
    write_json_atomic(folder / POINTER, {"folder": target.name})
    for old in folder.glob("epoch-*"):
        if old != target and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
    return target


def load_checkpoint(folder: Path, *, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any,
                    scaler: Any) -> dict[str, Any]:
    """Restore everything saved by :func:`save_checkpoint`; returns the trainer state.

    Raises:
        MMFusionError: there is no complete checkpoint to resume from.
    """
    from safetensors.torch import load_file

    pointer = folder / POINTER
    if not pointer.exists():
        raise MMFusionError(f"nothing to resume: {pointer} does not exist (no epoch finished yet); "
                            "start without --resume")
    target = folder / read_json(pointer)["folder"]
    meta = read_json(target / "state.json")
    model.load_state_dict(load_file(str(target / "model.safetensors")))
    optimizer.load_state_dict(_join_optimizer(load_file(str(target / "optimizer.safetensors")), meta["optimizer"]))
    scheduler.load_state_dict({**scheduler.state_dict(), **meta["scheduler"]})
    if scaler is not None and meta["scaler"]:
        scaler.load_state_dict(meta["scaler"])
    rng = load_file(str(target / "rng.safetensors"))
    torch.set_rng_state(rng["cpu"])
    cuda_states = [rng[k] for k in sorted(rng) if k.startswith("cuda")]
    if cuda_states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda_states)
    return meta["trainer"]
