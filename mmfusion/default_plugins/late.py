"""Late fusion: one classifier per modality, their logits averaged or combined with learned weights.

The classic decision-level baseline: each modality predicts the label on its own and the predictions are merged, so no
feature ever meets another modality's. Samples lacking a modality combine only the classifiers of the modalities they
have. This fusion outputs the class logits itself, so the model has no separate head (leave ``head:`` out of the spec).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import torch
from pydantic import Field, PositiveInt
from torch import Tensor, nn

from ..hookspecs import hookimpl
from ..interfaces.config import FusionConfig
from ..interfaces.encoder import EncoderOutput
from ..interfaces.fusion import Fusion
from ._common import mlp, presence


class LateConfig(FusionConfig):
    type: Literal["late"] = "late"
    hidden_dims: list[PositiveInt] = Field(default_factory=lambda: [256],
                                           description="Hidden layers of each modality's classifier.")
    combine: Literal["mean", "learned"] = Field(
        "mean", description="Average the logits, or weight modalities with learned (softmax) weights.")
    dropout: float = Field(0.1, ge=0, lt=1)


class LateFusion(Fusion):
    """Per-modality MLP classifiers; logits combined over the modalities each sample has."""

    name = "late"
    Config = LateConfig
    produces_logits = True
    config: LateConfig

    def __init__(self, config: LateConfig, input_dims: Mapping[str, int], num_classes: int) -> None:
        super().__init__(config, input_dims)
        self.classifiers = nn.ModuleDict({
            m: nn.Sequential(nn.LayerNorm(d), *mlp(d, config.hidden_dims, num_classes, dropout=config.dropout))
            for m, d in self.input_dims.items()})
        self.modality_weights = nn.Parameter(torch.zeros(len(self.modalities)),
                                             requires_grad=config.combine == "learned")
        self.output_dim = num_classes
        self.uses_tokens = False

    def forward(self, outputs: Mapping[str, EncoderOutput], present: Mapping[str, Tensor]) -> Tensor:
        logits = torch.stack([self.classifiers[m](outputs[m].pooled) for m in self.modalities], dim=1)  # [B,M,C]
        mask = presence(present, self.modalities, logits.dtype)  # [B, M]
        weights = torch.softmax(self.modality_weights.to(logits.dtype), dim=0).unsqueeze(0) * mask
        weights = weights / weights.sum(1, keepdim=True).clamp(min=1e-6)
        return (logits * weights.unsqueeze(-1)).sum(1)


@hookimpl
def mmfusion_fusions() -> list[type]:
    return [LateFusion]
