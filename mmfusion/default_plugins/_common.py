"""Small pieces the built-in components share: fusion layers, the base of the library-backbone image encoders."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from pydantic import Field
from torch import Tensor, nn

from ..errors import WeightsError
from ..interfaces.image_encoder import ImageEncoder, ImageEncoderConfig
from ..weights.loading import load_weights_into


def projections(input_dims: Mapping[str, int], dim: int, *, activation: bool = False) -> nn.ModuleDict:
    """Per modality: LayerNorm (encoders' scales differ by orders of magnitude) then Linear to ``dim``."""
    layers = {}
    for m, d in input_dims.items():
        parts: list[nn.Module] = [nn.LayerNorm(d), nn.Linear(d, dim)]
        if activation:
            parts.append(nn.GELU())
        layers[m] = nn.Sequential(*parts)
    return nn.ModuleDict(layers)


def mlp(width: int, hidden_dims: Sequence[int], out: int, *, dropout: float,
        activation: type[nn.Module] = nn.GELU, norm: bool = False) -> list[nn.Module]:
    """``[Linear → (LayerNorm) → activation → Dropout] * len(hidden_dims) → Linear``."""
    layers: list[nn.Module] = []
    for hidden in hidden_dims:
        layers += [nn.Linear(width, hidden), *([nn.LayerNorm(hidden)] if norm else []), activation(),
                   nn.Dropout(dropout)]
        width = hidden
    return [*layers, nn.Linear(width, out)]


def presence(present: Mapping[str, Tensor], modalities: list[str], dtype: torch.dtype) -> Tensor:
    """``[B, M]`` 0/1 presence in ``modalities`` order."""
    return torch.stack([present[m] for m in modalities], dim=1).to(dtype)


def torch_hub_path(url: str) -> Path:
    """Where torch hub keeps (and torchvision and timm look for) the file downloaded from ``url``."""
    from urllib.parse import urlparse

    return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(url).path).name


def offline_weights_problem(asked: str, where: str, variable: str, fetch: str, instead: str) -> WeightsError:
    """``pretrained: true`` in offline mode, ``asked`` weights not in ``where``: how to supply them (``fetch``)."""
    return WeightsError(
        f"pretrained: true asks for {asked}, which are not in {where}, and offline mode is on ({variable}=1), so "
        f"nothing is downloaded. Run once with network access (without {variable}) to download them, or on a machine "
        f"with network access {fetch}, or {instead}.")


class BackboneConfig(ImageEncoderConfig):
    tokens: bool = Field(True, description="Return the feature grid / patch tokens (for attention fusion).")


class BackboneEncoder(ImageEncoder):
    """An image encoder around one library model, ``self.net`` (timm's, torchvision's): ``weights:`` load into it
    inside ``__init__``, without its classifier, so that a file saved from that library's model loads as it is."""

    loads_own_weights = True
    config: BackboneConfig
    net: nn.Module

    def use_backbone(self, net: nn.Module, *, what: str, defaults: Mapping[str, Any]) -> None:
        """Keep ``net`` (with ``weights:`` loaded into it) and build the transforms from its data config."""
        if self.config.weights is not None:
            self.weights_path = load_weights_into(net, self.config.weights, what=what)
        self.net = net
        self.provides_tokens = self.config.tokens
        self.setup_transform(defaults)

    def weights_target(self) -> nn.Module:
        return self.net
