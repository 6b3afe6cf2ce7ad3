"""The classifier-head contract: fused vector → class logits."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from torch import Tensor, nn

from .config import HeadConfig


class Classifier(nn.Module):
    """Base class of classifier heads: built with ``(config, input_dim, num_classes)``; returns logits."""

    name: ClassVar[str]
    Config: ClassVar[type[HeadConfig]]

    def __init__(self, config: HeadConfig, input_dim: int, num_classes: int) -> None:
        super().__init__()
        self.config = config
        self.input_dim = int(input_dim)
        self.num_classes = int(num_classes)

    def forward(self, features: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def conformance_configs(cls, workdir: Path) -> list[HeadConfig]:
        """Small configs for :mod:`mmfusion.testing`; the default is the config's defaults."""
        return [cls.Config()]
