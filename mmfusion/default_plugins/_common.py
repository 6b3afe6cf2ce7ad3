"""Small pieces the built-in fusions share."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn


def projections(input_dims: Mapping[str, int], dim: int, *, activation: bool = False) -> nn.ModuleDict:
    """Per modality: LayerNorm (encoders' scales differ by orders of magnitude) then Linear to ``dim``."""
    layers = {}
    for m, d in input_dims.items():
        parts: list[nn.Module] = [nn.LayerNorm(d), nn.Linear(d, dim)]
        if activation:
            parts.append(nn.GELU())
        layers[m] = nn.Sequential(*parts)
    return nn.ModuleDict(layers)


def presence(present: Mapping[str, Tensor], modalities: list[str], dtype: torch.dtype) -> Tensor:
    """``[B, M]`` 0/1 presence in ``modalities`` order."""
    return torch.stack([present[m] for m in modalities], dim=1).to(dtype)
