"""MLP classifier head: hidden layers with an activation, optional LayerNorm, and dropout."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveInt
from torch import Tensor, nn

from ..hookspecs import hookimpl
from ..interfaces.classifier import Classifier
from ..interfaces.config import HeadConfig
from ._common import mlp

ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU, "tanh": nn.Tanh}


class MLPHeadConfig(HeadConfig):
    type: Literal["mlp"] = "mlp"
    hidden_dims: list[PositiveInt] = Field(default_factory=lambda: [256], description="Widths of the hidden layers.")
    dropout: float = Field(0.1, ge=0, lt=1)
    activation: Literal["relu", "gelu", "silu", "tanh"] = "gelu"
    norm: bool = Field(False, description="LayerNorm after each hidden linear layer.")


class MLPHead(Classifier):
    """:func:`._common.mlp` over the fused vector."""

    name = "mlp"
    Config = MLPHeadConfig

    def __init__(self, config: MLPHeadConfig, input_dim: int, num_classes: int) -> None:
        super().__init__(config, input_dim, num_classes)
        self.layers = nn.Sequential(*mlp(input_dim, config.hidden_dims, num_classes, dropout=config.dropout,
                                         activation=ACTIVATIONS[config.activation], norm=config.norm))

    def forward(self, features: Tensor) -> Tensor:
        return self.layers(features)


@hookimpl
def mmfusion_heads() -> list[type]:
    return [MLPHead]
