"""``train.compile``: the training forward through torch.compile; the model itself (and so its checkpoints) is
untouched, so compiled and eager runs write the same files and resume each other."""

from __future__ import annotations

import shutil

import torch

from ..errors import MMFusionError
from ..progress import Reporter


def compiled(module: torch.nn.Module, enabled: bool, device: torch.device, reporter: Reporter) -> torch.nn.Module:
    """``module`` compiled when ``enabled`` (text lengths vary by batch: shapes are marked dynamic once seen)."""
    if not enabled:
        return module
    if device.type == "cpu" and not any(shutil.which(c) for c in ("c++", "g++", "clang++")):
        raise MMFusionError("train.compile: true needs a C++ compiler on the CPU (torch.compile generates C++): "
                            "install one (e.g. `apt install g++`) or set train.compile: false")
    reporter.log("compiling the training forward with torch.compile (the first batches are slower)")
    return torch.compile(module)  # type: ignore[return-value]
