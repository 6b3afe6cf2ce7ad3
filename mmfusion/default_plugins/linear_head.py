"""Linear classifier head (with optional dropout)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from torch import Tensor, nn

from ..hookspecs import hookimpl
from ..interfaces.classifier import Classifier
from ..interfaces.config import HeadConfig


class LinearHeadConfig(HeadConfig):
    type: Literal["linear"] = "linear"
    dropout: float = Field(0.0, ge=0, lt=1)


class LinearHead(Classifier):
    """Dropout then one linear layer to the class logits."""

    name = "linear"
    Config = LinearHeadConfig

    def __init__(self, config: LinearHeadConfig, input_dim: int, num_classes: int) -> None:
        super().__init__(config, input_dim, num_classes)
        self.layers = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(input_dim, num_classes))

    def forward(self, features: Tensor) -> Tensor:
        return self.layers(features)


@hookimpl
def mmfusion_heads() -> list[type]:
    return [LinearHead]
