"""Tensor fusion (Zadeh et al., 2017, "Tensor Fusion Network for Multimodal Sentiment Analysis").

Each modality is projected to a small width and extended with a constant 1; the fused vector is the flattened outer
product of these, so it holds every unimodal, bimodal, ... M-modal feature product. An absent modality contributes only
its constant 1: the product then reduces to the other modalities' terms. The output width is ``(dim + 1) ** M``.
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
from ._common import projections


class TensorConfig(FusionConfig):
    type: Literal["tensor"] = "tensor"
    dim: int = Field(16, ge=1, le=128, description="Per-modality width before the outer product; output (dim+1)^M.")
    dropout: float = Field(0.0, ge=0, lt=1)


class TensorFusion(Fusion):
    """Flattened outer product of ``[1, h_m]`` over the modalities."""

    name = "tensor"
    Config = TensorConfig

    def __init__(self, config: TensorConfig, input_dims: Mapping[str, int]) -> None:
        super().__init__(config, input_dims)
        self.projections = projections(self.input_dims, config.dim, activation=True)
        self.output_dim = (config.dim + 1) ** len(self.modalities)
        self.dropout = nn.Dropout(config.dropout)
        self.uses_tokens = False

    def forward(self, outputs: Mapping[str, EncoderOutput], present: Mapping[str, Tensor]) -> Tensor:
        product: Tensor | None = None
        for m in self.modalities:
            h = self.projections[m](outputs[m].pooled) * present[m].unsqueeze(1).to(outputs[m].pooled.dtype)
            z = torch.cat([torch.ones_like(h[:, :1]), h], dim=1)
            product = z if product is None else (product.unsqueeze(2) * z.unsqueeze(1)).flatten(1)
        return self.dropout(product)


@hookimpl
def mmfusion_fusions() -> list[type]:
    return [TensorFusion]
