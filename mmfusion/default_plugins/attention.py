"""Cross-modal attention fusion: a transformer over all modalities' token sequences.

Every modality's tokens (image grid cells or patches, text tokens) are projected to a common width, tagged with a
learned modality embedding and concatenated behind a learned fusion token. Multi-head attention runs over the joint
sequence, so text tokens attend to image tokens and vice versa; key padding masks hide padding and every token of a
modality absent from a sample. The fusion token's output is the fused vector. (Unlike attending over one concatenated
vector per sample, which is a single-token attention and so just a linear map, this attends over the real sequences.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import torch
from pydantic import Field, model_validator
from torch import Tensor, nn

from ..hookspecs import hookimpl
from ..interfaces.config import FusionConfig
from ..interfaces.encoder import EncoderOutput
from ..interfaces.fusion import Fusion


class AttentionConfig(FusionConfig):
    type: Literal["attention"] = "attention"
    dim: int = Field(256, ge=8, description="Width of the joint token space.")
    num_heads: int = Field(4, ge=1)
    num_layers: int = Field(1, ge=1, description="Transformer layers over the joint sequence.")
    mlp_ratio: float = Field(2.0, gt=0, description="Feed-forward width as a multiple of dim.")
    dropout: float = Field(0.1, ge=0, lt=1)
    use_tokens: bool = Field(True, description="Attend over token sequences (false: one pooled token per modality).")
    pooling: Literal["mean", "cls"] = Field(
        "mean", description="Mean of the visible tokens after attention (every token has looked at the other "
        "modalities), or the fusion token's output alone.")

    @model_validator(mode="after")
    def _heads_divide_dim(self) -> AttentionConfig:
        if self.dim % self.num_heads:
            raise ValueError(f"dim ({self.dim}) must be divisible by num_heads ({self.num_heads})")
        return self


class AttentionFusion(Fusion):
    """Joint multi-head attention over the modality token sequences, pooled to one vector."""

    name = "attention"
    Config = AttentionConfig
    config: AttentionConfig

    def __init__(self, config: AttentionConfig, input_dims: Mapping[str, int]) -> None:
        super().__init__(config, input_dims)
        dim = config.dim
        # normalise first: encoders' feature scales differ by orders of magnitude
        self.projections = nn.ModuleDict({m: nn.Sequential(nn.LayerNorm(d), nn.Linear(d, dim), nn.LayerNorm(dim))
                                          for m, d in self.input_dims.items()})
        self.modality_embedding = nn.Parameter(torch.zeros(len(self.modalities), dim))
        self.fusion_token = nn.Parameter(torch.zeros(1, 1, dim))
        nn.init.normal_(self.modality_embedding, std=0.02)
        nn.init.normal_(self.fusion_token, std=0.02)
        layer = nn.TransformerEncoderLayer(dim, config.num_heads, dim_feedforward=int(dim * config.mlp_ratio),
                                           dropout=config.dropout, activation="gelu", batch_first=True, norm_first=True)
        self.transformer = nn.TransformerEncoder(layer, config.num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.output_dim = dim
        self.uses_tokens = config.use_tokens

    def forward(self, outputs: Mapping[str, EncoderOutput], present: Mapping[str, Tensor]) -> Tensor:
        batch = present[self.modalities[0]].shape[0]
        sequences = [self.fusion_token.expand(batch, -1, -1)]
        visible = [torch.ones(batch, 1, dtype=torch.bool, device=sequences[0].device)]
        for index, m in enumerate(self.modalities):
            tokens, mask = (outputs[m] if self.config.use_tokens else EncoderOutput(outputs[m].pooled)).as_tokens()
            sequences.append(self.projections[m](tokens) + self.modality_embedding[index])
            visible.append(mask & present[m].unsqueeze(1))
        x = torch.cat([s.to(sequences[-1].dtype) for s in sequences], dim=1)
        keep = torch.cat(visible, dim=1)
        x = self.transformer(x, src_key_padding_mask=~keep)
        if self.config.pooling == "cls":
            return self.norm(x[:, 0])
        weights = keep.unsqueeze(-1).to(x.dtype)
        return self.norm((x * weights).sum(1) / weights.sum(1))


@hookimpl
def mmfusion_fusions() -> list[type]:
    return [AttentionFusion]
