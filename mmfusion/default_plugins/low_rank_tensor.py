"""Low-rank multimodal fusion (Liu et al., 2018, "Efficient Low-rank Multimodal Fusion with Modality-Specific Factors").

The tensor-fusion weight is factorised into ``rank`` modality-specific factors, so the fused vector
``Σ_r w_r Π_m (W_m^(r) [1, x_m])`` is computed without building the outer product: linear in the
number of modalities instead of exponential. An absent modality's input is ``[1, 0, ...]``, so its
factor becomes a learned constant (a placeholder) and its features cannot reach the output.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import torch
from pydantic import Field
from torch import Tensor, nn

from ..hookspecs import hookimpl
from ..interfaces.config import FusionConfig
from ..interfaces.encoder import EncoderOutput
from ..interfaces.fusion import Fusion


class LowRankTensorConfig(FusionConfig):
    type: Literal["low_rank_tensor"] = "low_rank_tensor"
    dim: int = Field(128, ge=1, description="Output width.")
    rank: int = Field(4, ge=1, description="Number of modality-specific factors.")


class LowRankTensorFusion(Fusion):
    """LMF: rank-``r`` factorised tensor fusion."""

    name = "low_rank_tensor"
    Config = LowRankTensorConfig

    def __init__(self, config: LowRankTensorConfig, input_dims: Mapping[str, int]) -> None:
        super().__init__(config, input_dims)
        self.norms = nn.ModuleDict({m: nn.LayerNorm(d) for m, d in self.input_dims.items()})
        self.factors = nn.ParameterDict({m: nn.init.xavier_normal_(torch.empty(config.rank, d + 1, config.dim))
                                         for m, d in self.input_dims.items()})
        self.rank_weights = nn.Parameter(torch.full((config.rank,), 1.0 / config.rank))
        self.bias = nn.Parameter(torch.zeros(config.dim))
        self.output_dim = config.dim
        self.uses_tokens = False

    def forward(self, outputs: Mapping[str, EncoderOutput], present: Mapping[str, Tensor]) -> Tensor:
        fused: Tensor | None = None
        for m in self.modalities:
            x = self.norms[m](outputs[m].pooled) * present[m].unsqueeze(1).to(outputs[m].pooled.dtype)
            z = torch.cat([torch.ones_like(x[:, :1]), x], dim=1)  # [B, d+1]
            factor = torch.einsum("bd,rdo->bro", z, self.factors[m].to(z.dtype))  # [B, rank, dim]
            fused = factor if fused is None else fused * factor
        return torch.einsum("bro,r->bo", fused, self.rank_weights.to(fused.dtype)) + self.bias


@hookimpl
def mmfusion_fusions() -> list[type]:
    return [LowRankTensorFusion]
