"""Image encoder: torchvision ResNet (18/34/50/101/152); the layer-4 grid cells are its tokens."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import torch
from pydantic import Field
from torch import Tensor, nn

from ..errors import WeightsError
from ..hookspecs import hookimpl
from ..interfaces.encoder import EncoderOutput
from ..weights import load_weights_into
from .image_common import IMAGENET_MEAN, IMAGENET_STD, ImageEncoder, ImageEncoderConfig, grid_to_tokens


class TorchvisionResNetConfig(ImageEncoderConfig):
    type: Literal["torchvision_resnet"] = "torchvision_resnet"
    arch: Literal["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"] = "resnet50"
    pretrained: bool = Field(
        False, description="torchvision's ImageNet weights, only if already in the local torch hub cache."
    )
    tokens: bool = Field(True, description="Return the final feature grid as tokens (for attention fusion).")


def _cached_torchvision_weights(arch: str) -> Path:
    import torchvision

    weights = torchvision.models.get_model_weights(arch).DEFAULT
    path = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    if not path.is_file():
        raise WeightsError(
            f"pretrained: true asks for torchvision's {arch} ImageNet weights, which are not in the local cache "
            f"({path}); mmfusion never downloads at run time. Download {weights.url} on a machine with network "
            f"access and put it at that path, or set `weights:` to a local weights file, or use "
            "`pretrained: false` for random initialisation."
        )
    return path


class TorchvisionResNetEncoder(ImageEncoder):
    """torchvision ResNet without its classifier: pooled ``[B, C]`` and grid tokens ``[B, h*w, C]``."""

    name = "torchvision_resnet"
    Config = TorchvisionResNetConfig
    loads_own_weights = True  # `weights:` goes into the backbone inside __init__
    config: TorchvisionResNetConfig

    def __init__(self, config: TorchvisionResNetConfig) -> None:
        super().__init__(config)
        import torchvision

        net = torchvision.models.get_model(config.arch, weights=None)
        self.output_dim = int(net.fc.in_features)
        net.fc = torch.nn.Identity()
        self.weights_path: Path | None = None
        if config.weights is not None:
            self.weights_path = load_weights_into(net, config.weights, what=f"torchvision {config.arch} weights")
        elif config.pretrained:
            self.weights_path = load_weights_into(
                net, str(_cached_torchvision_weights(config.arch)), what=f"torchvision {config.arch} weights"
            )
        self.net = net
        self.provides_tokens = config.tokens
        self.setup_transform(
            {"image_size": 224, "mean": IMAGENET_MEAN, "std": IMAGENET_STD, "crop_pct": 0.875,
             "interpolation": "bilinear"}
        )

    def weights_target(self) -> nn.Module:
        return self.net

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
