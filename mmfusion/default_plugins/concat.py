"""Concatenation fusion (the original article's): pooled vectors side by side, plus presence flags."""

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


class ConcatConfig(FusionConfig):
    type: Literal["concat"] = "concat"
    projection_dim: int | None = Field(
        None, ge=1, description="Project each modality to this width (Linear + LayerNorm + GELU) first.")
    input_norm: bool = Field(
        True, description="LayerNorm each modality's vector first: encoders' feature scales differ by orders of "
        "magnitude.")
    presence_flags: bool = Field(
        True, description="Append one 0/1 flag per modality, so an absent modality's zeros are not read as data.")
    dropout: float = Field(0.0, ge=0, lt=1)


class ConcatFusion(Fusion):
    """``[v_1 * p_1, ..., v_M * p_M, p_1..p_M]`` in sorted modality order; absent rows are zeroed and flagged."""

    name = "concat"
    Config = ConcatConfig
    config: ConcatConfig

    def __init__(self, config: ConcatConfig, input_dims: Mapping[str, int]) -> None:
        super().__init__(config, input_dims)
        dim = config.projection_dim
        self.projections = nn.ModuleDict({m: nn.Sequential(nn.Linear(d, dim), nn.LayerNorm(dim), nn.GELU())
                                          for m, d in self.input_dims.items()} if dim else {})
        self.norms = nn.ModuleDict({m: nn.LayerNorm(d) for m, d in self.input_dims.items()} if config.input_norm
                                   else {})
        widths = [dim or d for d in self.input_dims.values()]
        self.output_dim = sum(widths) + (len(widths) if config.presence_flags else 0)
        self.dropout = nn.Dropout(config.dropout)
        self.uses_tokens = False

    def forward(self, outputs: Mapping[str, EncoderOutput], present: Mapping[str, Tensor]) -> Tensor:
        parts, flags = [], []
        for m in self.modalities:
            vector = outputs[m].pooled
            vector = self.norms[m](vector) if m in self.norms else vector
            vector = self.projections[m](vector) if m in self.projections else vector
            flags.append(present[m].to(vector.dtype).unsqueeze(1))
            parts.append(vector * flags[-1])
        return self.dropout(torch.cat(parts + flags if self.config.presence_flags else parts, dim=1))


@hookimpl
def mmfusion_fusions() -> list[type]:
    return [ConcatFusion]
