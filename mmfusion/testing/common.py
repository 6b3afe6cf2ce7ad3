"""Helpers shared by the checks: building offline, configs per component, state-dict round trips."""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

_WORKDIRS: dict[type, Path] = {}


class ConformanceError(AssertionError):
    """A component does not meet the mmfusion contract; the message says which part and how."""


def require(condition: bool, message: str) -> None:
    if not condition:
        raise ConformanceError(message)


def workdir_for(component: type) -> Path:
    """A folder (kept for the process' lifetime) where a component may write tiny test assets."""
    if component not in _WORKDIRS:
        path = Path(tempfile.mkdtemp(prefix=f"mmfusion-conformance-{component.__name__}-"))
        atexit.register(shutil.rmtree, path, True)
        _WORKDIRS[component] = path
    return _WORKDIRS[component]


def build(component: type, *args: Any, kind: str, num_classes: int | None = None, seed: int = 0) -> Any:
    """Build offline, after seeding torch, as the builder does: a composite fusion gets a build context (on the
    process-wide registry), an encoder then loads its ``weights:``."""
    from ..model.builder import BuildContext, instantiate
    from ..registry import get_registry
    from ..weights.loading import load_configured_weights

    torch.manual_seed(seed)
    context = BuildContext(get_registry(), path=kind, num_classes=num_classes, config=args[0])
    with network_blocked():
        built = instantiate(component, *args, context=context)
        if kind == "encoder":
            load_configured_weights(built)
    return built


def configs_for(component: type) -> list[Any]:
    configs = component.conformance_configs(workdir_for(component))
    require(bool(configs), f"{component.__name__}.conformance_configs() returned no configs")
    return list(configs)


@contextlib.contextmanager
def network_blocked() -> Iterator[None]:
    """Make any network access fail (and tell Hugging Face libraries to stay offline)."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise ConformanceError("the component tried to use the network while being built; it must build offline")

    saved_env = {k: os.environ.get(k) for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    saved = (socket.socket.connect, socket.create_connection, socket.getaddrinfo)
    os.environ["HF_HUB_OFFLINE"] = os.environ["TRANSFORMERS_OFFLINE"] = "1"
    socket.socket.connect, socket.create_connection, socket.getaddrinfo = refuse, refuse, refuse  # type: ignore
    try:
        yield
    finally:
        socket.socket.connect, socket.create_connection, socket.getaddrinfo = saved  # type: ignore
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def roundtrip_state(source: nn.Module, target: nn.Module, component: type) -> None:
    """Save ``source`` with safetensors and load it into ``target`` (the run-directory format)."""
    from safetensors.torch import load_file, save_file

    path = workdir_for(component) / "state.safetensors"
    state = {k: v.detach().clone().contiguous() for k, v in source.state_dict().items()}
    save_file(state, str(path))
    missing, unexpected = target.load_state_dict(load_file(str(path)), strict=False)
    require(not missing and not unexpected,
            f"state_dict round trip through safetensors lost keys: missing={missing} unexpected={unexpected}")


def close(a: torch.Tensor, b: torch.Tensor, atol: float = 1e-4) -> bool:
    return a.shape == b.shape and torch.allclose(a.float(), b.float(), atol=atol, rtol=1e-3)


def check_configs(component: type) -> None:
    """Every conformance config round-trips through JSON, forbids unknown keys and carries the name as type."""
    cls = component.Config
    for config in configs_for(component):
        require(config.type == component.name, f"config type {config.type!r} differs from name {component.name!r}")
        again = cls.model_validate(config.model_dump(mode="json"))
        require(again == config, f"{cls.__name__} does not survive a JSON round trip: {config!r} → {again!r}")
        require(cls.model_config.get("extra") == "forbid",
                f"{cls.__name__} must forbid unknown keys (inherit from an mmfusion config base class)")
        try:
            cls.model_validate({**config.model_dump(mode="json"), "surely_not_a_parameter": 1})
        except Exception:
            continue
        raise ConformanceError(f"{cls.__name__} accepted an unknown parameter; typos would pass silently")


#: (task, model outputs) every head and fusion must serve: softmax classes, independent labels, one logit
TASK_OUTPUTS = (("multiclass", 5), ("multilabel", 5), ("binary", 1))


def check_task_step(what: str, task: str, logits: torch.Tensor, expected: tuple[int, int],
                    params: list[torch.nn.Parameter], inputs: list[torch.Tensor]) -> None:
    """One backward pass of the task's default loss on targets as training hands them to it (cross-entropy on class
    ids, or binary cross-entropy on multi-hot rows or one 0/1 logit): the right logits shape, a finite loss,
    gradients that reach the component's parameters (if any) and its inputs."""
    from torch.nn import functional

    require(tuple(logits.shape) == expected, f"{task}: {what} gives logits of shape {tuple(logits.shape)}, "
            f"expected {expected}")
    (batch, outputs), g = expected, torch.Generator().manual_seed(0)
    if task == "multiclass":
        loss = functional.cross_entropy(logits, torch.randint(0, outputs, (batch,), generator=g))
    else:
        goal = (torch.rand(batch, outputs, generator=g) > 0.5).float() if task == "multilabel" else \
            torch.randint(0, 2, (batch,), generator=g).float()[:, None]
        loss = functional.binary_cross_entropy_with_logits(logits, goal)
    require(bool(torch.isfinite(loss)), f"{task}: the loss on {what}'s logits is not finite")
    loss.backward()
    if params:
        require(any(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in params),
                f"{task}: no parameter of {what} received a gradient from the {task} loss")
    require(any(t.grad is not None and bool(t.grad.abs().sum() > 0) for t in inputs),
            f"{task}: no gradient of the {task} loss reaches {what}'s input")
