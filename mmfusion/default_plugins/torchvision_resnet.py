"""Image encoder: torchvision ResNet (18/34/50/101/152); the layer-4 grid cells are its tokens.

ImageNet weights (`pretrained: true`) load as torchvision loads them: through the torch hub cache.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Literal
from urllib.error import HTTPError, URLError

import torch
from pydantic import Field
from torch import Tensor

from ..errors import WeightsError
from ..hookspecs import hookimpl
from ..interfaces.encoder import EncoderOutput
from ..interfaces.image_encoder import IMAGENET_MEAN, IMAGENET_STD, grid_to_tokens
from ..weights.offline import offline_variable
from ._common import BackboneConfig, BackboneEncoder, offline_weights_problem, torch_hub_path


class TorchvisionResNetConfig(BackboneConfig):
    type: Literal["torchvision_resnet"] = "torchvision_resnet"
    arch: Literal["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"] = "resnet50"
    pretrained: bool = Field(
        False, description="torchvision's ImageNet weights, downloaded by torchvision into the torch hub cache "
        "($TORCH_HOME/hub/checkpoints) on first use (offline: only from the cache).")


def _imagenet_state_dict(arch: str) -> tuple[dict[str, Tensor], Path]:
    """torchvision's default ImageNet weights for ``arch``, as torchvision loads them: from the torch hub cache,
    downloaded there (hash-checked) first unless offline. Returns the state dict and the cached file.

    Raises:
        WeightsError: offline without the cached file, or the download failed; the message says what to do.
    """
    import torchvision

    weights = torchvision.models.get_model_weights(arch).DEFAULT
    path = torch_hub_path(weights.url)
    instead = "set `weights:` to a local weights file, or use `pretrained: false` for random initialisation"
    variable = offline_variable()
    if variable is not None and not path.is_file():
        raise offline_weights_problem(f"torchvision's {arch} ImageNet weights", f"the torch hub cache ({path})",
                                      variable, f"download {weights.url} and put it at that path", instead)
    try:
        state = weights.get_state_dict(progress=sys.stderr.isatty(), check_hash=True)
    except (OSError, RuntimeError) as exc:  # no network, an HTTP error, a hash mismatch, a damaged file
        if isinstance(exc, HTTPError):
            problem, advice = f"the server answered {exc.code} {exc.reason}", "Check the URL (a newer torchvision?)"
        elif isinstance(exc, URLError):
            problem, advice = f"it cannot be reached ({exc.reason})", "Check the network (or proxy)"
        else:
            problem, advice = f"{type(exc).__name__}: {exc}", "Try again (a partial download is not kept)"
        raise WeightsError(
            f"pretrained: true asks for torchvision's {arch} ImageNet weights from {weights.url}, and getting them "
            f"into the torch hub cache ({path}) failed: {problem}. {advice}; to work without network, put that file "
            f"at that path and set MMFUSION_OFFLINE=1, or {instead}.") from None
    return state, path


class TorchvisionResNetEncoder(BackboneEncoder):
    """torchvision ResNet without its classifier: pooled ``[B, C]`` and grid tokens ``[B, h*w, C]``."""

    name = "torchvision_resnet"
    Config = TorchvisionResNetConfig
    config: TorchvisionResNetConfig

    def __init__(self, config: TorchvisionResNetConfig) -> None:
        super().__init__(config)
        import torchvision

        net = torchvision.models.get_model(config.arch, weights=None)
        if config.pretrained and config.weights is None:
            state, self.weights_path = _imagenet_state_dict(config.arch)
            try:
                net.load_state_dict(state)  # torchvision's own file for this very architecture: names match
            except RuntimeError as exc:
                raise WeightsError(f"torchvision {config.arch} weights: {self.weights_path} does not fit the model "
                                   f"({str(exc).splitlines()[0]}); delete it to download it again") from None
        self.output_dim = int(net.fc.in_features)
        net.fc = torch.nn.Identity()
        self.use_backbone(net, what=f"torchvision {config.arch} weights", defaults={
            "image_size": 224, "mean": IMAGENET_MEAN, "std": IMAGENET_STD, "crop_pct": 0.875,
            "interpolation": "bilinear"})

    def forward(self, inputs: dict[str, Tensor]) -> EncoderOutput:
        n = self.net
        x = n.maxpool(n.relu(n.bn1(n.conv1(inputs["pixels"]))))
        grid = n.layer4(n.layer3(n.layer2(n.layer1(x))))
        pooled = grid.mean(dim=(2, 3))
        return EncoderOutput(pooled, grid_to_tokens(grid) if self.provides_tokens else None)

    @classmethod
    def conformance_configs(cls, workdir: Path) -> list[TorchvisionResNetConfig]:
        return [TorchvisionResNetConfig(arch="resnet18", image_size=64)]


@hookimpl
def mmfusion_encoders() -> list[type]:
    return [TorchvisionResNetEncoder]
