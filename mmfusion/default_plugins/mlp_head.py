"""MLP classifier head: hidden layers with an activation, optional LayerNorm, and dropout."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveInt
from torch import Tensor, nn

from ..hookspecs import hookimpl
from ..interfaces.classifier import Classifier
from ..interfaces.config import HeadConfig

ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU, "tanh": nn.Tanh}


class MLPHeadConfig(HeadConfig):
    type: Literal["mlp"] = "mlp"
    hidden_dims: list[PositiveInt] = Field(default_factory=lambda: [256], description="Widths of the hidden layers.")
    dropout: float = Field(0.1, ge=0, lt=1)
    activation: Literal["relu", "gelu", "silu", "tanh"] = "gelu"
    norm: bool = Field(False, description="LayerNorm after each hidden linear layer.")


class MLPHead(Classifier):
    """``[Linear → (LayerNorm) → activation → Dropout] * len(hidden_dims) → Linear``."""

    name = "mlp"
    Config = MLPHeadConfig

    def __init__(self, config: MLPHeadConfig, input_dim: int, num_classes: int) -> None:
        super().__init__(config, input_dim, num_classes)
        layers: list[nn.Module] = []
        width = input_dim
        for hidden in config.hidden_dims:
            layers.append(nn.Linear(width, hidden))
            if config.norm:
                layers.append(nn.LayerNorm(hidden))
            layers += [ACTIVATIONS[config.activation](), nn.Dropout(config.dropout)]
            width = hidden
        layers.append(nn.Linear(width, num_classes))
        self.layers = nn.Sequential(*layers)

    def forward(self, features: Tensor) -> Tensor:
        return self.layers(features)


@hookimpl
def mmfusion_heads() -> list[type]:
    return [MLPHead]
