"""Numeric precision: which autocast (if any) and gradient scaling a device and setting call for."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import torch

from ..errors import MMFusionError


def cpu_has_fast_bf16() -> bool:
    """True on CPUs with native bf16 matrix units (AMX or AVX512-BF16); elsewhere bf16 is emulated and slow."""
    cpu = getattr(torch, "cpu", None)
    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(bool(getattr(cpu, name, lambda: False)()) for name in checks)


@dataclass(frozen=True)
class Precision:
    """The resolved precision: ``name`` is fp32, bf16 or fp16."""

    name: str
    device_type: str
    reason: str = ""

    @property
    def dtype(self) -> torch.dtype | None:
        return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.name)

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def grad_scaler(self) -> torch.amp.GradScaler | None:
        return torch.amp.GradScaler(self.device_type) if self.name == "fp16" else None


def resolve_precision(requested: str, device: torch.device) -> Precision:
    """``auto`` → bf16 on CUDA (fp16 on GPUs without bf16) and on CPUs with native bf16, else fp32; fp16 needs CUDA."""
    kind = device.type
    if requested == "fp16" and kind != "cuda":
        raise MMFusionError(f"precision fp16 needs a CUDA device (gradient scaling); on {kind} use bf16 or fp32")
    if requested != "auto":
        reason = ""
        if requested == "bf16" and kind == "cpu" and not cpu_has_fast_bf16():
            reason = "this CPU has no native bf16 (no AMX / AVX512-BF16): bf16 is emulated and much slower than fp32"
        return Precision(requested, kind, reason)
    if kind == "cuda":
        if torch.cuda.is_bf16_supported():
            return Precision("bf16", kind, "CUDA with bf16 support")
        return Precision("fp16", kind, "CUDA without bf16 support")
    if kind == "cpu" and cpu_has_fast_bf16():
        return Precision("bf16", kind, "CPU with native bf16 (AMX / AVX512-BF16)")
    if kind == "cpu":
        return Precision("fp32", kind, "CPU without native bf16: fp32 is faster here")
    return Precision("fp32", kind, f"{kind}: fp32")


def inference_precision(trained: str, device: torch.device) -> Precision:
    """The precision to run a trained model at on ``device``, which may not be the one it was trained on: weights
    are fp32 whatever the setting, so fp16 off CUDA and bf16 on a CPU that only emulates it fall back to ``auto``."""
    if (trained == "fp16" and device.type != "cuda") or (
            trained == "bf16" and device.type == "cpu" and not cpu_has_fast_bf16()):
        return resolve_precision("auto", device)
    return resolve_precision(trained, device)
