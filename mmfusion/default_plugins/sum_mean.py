"""Sum and mean fusion: each modality projected to a common width, then added (or averaged over present)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import torch
from pydantic import Field
from torch import Tensor

from ..hookspecs import hookimpl
from ..interfaces.config import FusionConfig
from ..interfaces.encoder import EncoderOutput
from ..interfaces.fusion import Fusion
from ._common import presence, projections


class SumConfig(FusionConfig):
    type: Literal["sum"] = "sum"
    dim: int = Field(256, ge=1, description="Common width the modalities are projected to.")


class MeanConfig(SumConfig):
    type: Literal["mean"] = "mean"  # type: ignore[assignment]


class SumFusion(Fusion):
    """``Σ_m present_m · W_m LN(x_m)``: the simplest additive fusion (absent modalities add nothing)."""

    name = "sum"
    Config = SumConfig
    average = False

    def __init__(self, config: SumConfig, input_dims: Mapping[str, int]) -> None:
        super().__init__(config, input_dims)
        self.projections = projections(self.input_dims, config.dim)
        self.output_dim = config.dim
        self.uses_tokens = False

    def forward(self, outputs: Mapping[str, EncoderOutput], present: Mapping[str, Tensor]) -> Tensor:
        projected = torch.stack([self.projections[m](outputs[m].pooled) for m in self.modalities], dim=1)
        weights = presence(present, self.modalities, projected.dtype).unsqueeze(-1)  # [B, M, 1]
        total = (projected * weights).sum(1)
        return total / weights.sum(1).clamp(min=1.0) if self.average else total


class MeanFusion(SumFusion):
    """Mean of the projected vectors over the modalities each sample has."""

    name = "mean"
    Config = MeanConfig
    average = True


@hookimpl
def mmfusion_fusions() -> list[type]:
    return [SumFusion, MeanFusion]
