"""Choosing the device: ``auto`` picks CUDA, then Apple MPS, then the CPU."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import MMFusionError

if TYPE_CHECKING:
    import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def resolve_device(name: str = "auto") -> torch.device:
    """Turn ``auto|cpu|cuda|cuda:N|mps`` into a torch device, failing clearly if it is not available."""
    import torch

    name = (name or "auto").strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise MMFusionError(f"device '{name}' was asked for but CUDA is not available here; use --device cpu")
        return torch.device(name)
    if name == "mps":
        if not torch.backends.mps.is_available():
            raise MMFusionError("device 'mps' was asked for but Apple MPS is not available here; use --device cpu")
        return torch.device("mps")
    if name == "cpu":
        return torch.device("cpu")
    raise MMFusionError(f"unknown device '{name}'; choose one of {', '.join(DEVICE_CHOICES)} (or cuda:N)")
