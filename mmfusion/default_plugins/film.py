"""FiLM fusion (Perez et al., 2018, "FiLM: Visual Reasoning with a General Conditioning Layer").

One modality (by default the text) conditions the others: from its pooled vector, a linear layer
predicts a per-feature scale ``γ`` and shift ``β`` that modulate every token of each other modality,
``relu((1 + γ) ⊙ W t + β)``, before the tokens are averaged. A sample without the conditioning
modality gets no modulation; an absent target contributes zeros, flagged as absent.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Literal

import torch
from pydantic import Field
from torch import Tensor, nn

from ..errors import SpecError
from ..hookspecs import hookimpl
from ..interfaces.config import FusionConfig
from ..interfaces.encoder import EncoderOutput
from ..interfaces.fusion import Fusion
from ._common import presence, projections


class FilmConfig(FusionConfig):
    type: Literal["film"] = "film"
    condition_on: str | None = Field(
        None, description="The conditioning modality (default: 'text' if the model has it, else the first).")
    dim: int = Field(256, ge=1, description="Width of the modulated features.")


class FilmFusion(Fusion):
    """The conditioning modality's pooled vector scales and shifts the other modalities' tokens."""

    name = "film"
    Config = FilmConfig
    config: FilmConfig

    def __init__(self, config: FilmConfig, input_dims: Mapping[str, int]) -> None:
        super().__init__(config, input_dims)
        condition = config.condition_on or ("text" if "text" in self.input_dims else self.modalities[0])
        if condition not in self.input_dims:
            raise SpecError(f"film: condition_on is '{condition}', but the model's modalities are "
                            f"{', '.join(self.modalities)}")
        self.condition = condition
        self.targets = [m for m in self.modalities if m != condition]
        dim = config.dim
        self.target_projections = projections({m: self.input_dims[m] for m in self.targets}, dim)
        self.condition_projection = projections({condition: self.input_dims[condition]}, dim, activation=True)
        self.film = nn.ModuleDict({m: nn.Linear(self.input_dims[condition], 2 * dim) for m in self.targets})
        self.condition_norm = nn.LayerNorm(self.input_dims[condition])
        for parameter in self.film.parameters():  # start as the identity modulation
            nn.init.zeros_(parameter)
        self.output_dim = dim * len(self.modalities) + len(self.modalities)

    def modality_parameters(self, modality: str) -> Iterator[nn.Parameter]:
        """The FiLM generators read only the conditioning input: they are its, with its projection and norm."""
        if modality == self.condition:
            yield from self.condition_projection.parameters()
            yield from self.condition_norm.parameters()
            yield from self.film.parameters()
        elif modality in self.target_projections:
            yield from self.target_projections[modality].parameters()

    def forward(self, outputs: Mapping[str, EncoderOutput], present: Mapping[str, Tensor]) -> Tensor:
        c = outputs[self.condition].pooled
        has_condition = present[self.condition].unsqueeze(1).to(c.dtype)
        parts = []
        for m in self.targets:
            tokens, mask = outputs[m].as_tokens()
            h = self.target_projections[m](tokens)  # [B, T, dim]
            gamma, beta = (self.film[m](self.condition_norm(c)) * has_condition).chunk(2, dim=1)
            h = torch.relu((1 + gamma.unsqueeze(1)) * h + beta.unsqueeze(1))
            weights = mask.unsqueeze(-1).to(h.dtype)
            pooled = (h * weights).sum(1) / weights.sum(1).clamp(min=1.0)
            parts.append(pooled * present[m].unsqueeze(1).to(h.dtype))
        parts.insert(self.modalities.index(self.condition),
                     self.condition_projection[self.condition](c) * has_condition)
        return torch.cat([*parts, presence(present, self.modalities, c.dtype)], dim=1)


@hookimpl
def mmfusion_fusions() -> list[type]:
    return [FilmFusion]
