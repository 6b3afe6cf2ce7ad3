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
        name = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    elif name.startswith("cuda") and not torch.cuda.is_available():
        raise MMFusionError(f"device '{name}' was asked for but CUDA is not available here; use --device cpu")
    elif name == "mps" and not torch.backends.mps.is_available():
        raise MMFusionError("device 'mps' was asked for but Apple MPS is not available here; use --device cpu")
    elif name not in DEVICE_CHOICES and not name.startswith("cuda"):
        raise MMFusionError(f"unknown device '{name}'; choose one of {', '.join(DEVICE_CHOICES)} (or cuda:N)")
    return torch.device(name)
