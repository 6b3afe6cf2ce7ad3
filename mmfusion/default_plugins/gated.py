"""Gated multimodal unit (Arevalo et al., 2017, "Gated Multimodal Units for Information Fusion").

Each modality gets a ``tanh`` representation ``h_m``; a gate computed from all inputs decides, per feature, how much
each modality contributes: ``h = Σ_m z_m ⊙ h_m`` with ``z`` a softmax over the modalities (the two-modality GMU's
sigmoid generalised to M). Absent modalities are excluded from the softmax, so the present ones share the whole gate.
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
from ._common import presence


class GatedConfig(FusionConfig):
    type: Literal["gated"] = "gated"
    dim: int = Field(256, ge=1, description="Width of the modality representations and the output.")


class GatedFusion(Fusion):
    """GMU: feature-wise softmax gates over tanh-projected modalities."""

    name = "gated"
    Config = GatedConfig
    config: GatedConfig

    def __init__(self, config: GatedConfig, input_dims: Mapping[str, int]) -> None:
        super().__init__(config, input_dims)
        dim = config.dim
        self.norms = nn.ModuleDict({m: nn.LayerNorm(d) for m, d in self.input_dims.items()})
        self.hidden = nn.ModuleDict({m: nn.Linear(d, dim) for m, d in self.input_dims.items()})
        self.gate = nn.Linear(sum(self.input_dims.values()), dim * len(self.modalities))
        self.output_dim = dim
        self.uses_tokens = False

    def forward(self, outputs: Mapping[str, EncoderOutput], present: Mapping[str, Tensor]) -> Tensor:
        normed = {m: self.norms[m](outputs[m].pooled) for m in self.modalities}
        mask = presence(present, self.modalities, normed[self.modalities[0]].dtype)  # [B, M]
        hidden = torch.stack([torch.tanh(self.hidden[m](normed[m])) for m in self.modalities], dim=1)  # [B,M,D]
        gate_input = torch.cat([normed[m] * mask[:, i:i + 1] for i, m in enumerate(self.modalities)], dim=1)
        logits = self.gate(gate_input).view(-1, len(self.modalities), self.config.dim)
        # absent modalities get no share of the gate (a finite fill keeps gradients free of NaN)
        logits = logits.masked_fill(mask.unsqueeze(-1) == 0, -1e4)
        weights = torch.softmax(logits, dim=1) * mask.unsqueeze(-1)
        return (weights * hidden).sum(dim=1)


@hookimpl
def mmfusion_fusions() -> list[type]:
    return [GatedFusion]
