"""The fusion contract: encoder outputs of all modalities + per-sample presence → one vector."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

from torch import Tensor, nn

from .config import FusionConfig
from .encoder import EncoderOutput


class Fusion(nn.Module):
    """Base class of fusions.

    Built with its config and ``input_dims`` (modality → encoder output dim); sets
    ``self.output_dim``. ``forward(outputs, present)`` returns ``[B, output_dim]``. ``present`` maps
    each modality to a bool tensor ``[B]``: a batch may mix samples with and without a modality, and
    a fusion must not let an absent modality's (filler) features reach the output. Modalities are
    always iterated in sorted order (``self.modalities``), whatever the mapping order.
    """

    name: ClassVar[str]
    Config: ClassVar[type[FusionConfig]]

    output_dim: int
    #: whether forward reads token sequences (False: only pooled vectors; caches may skip tokens)
    uses_tokens: bool = True
    #: a fusion that outputs class logits itself (late fusion) is built with ``num_classes=`` as a
    #: third argument, and the model then has no separate head
    produces_logits: ClassVar[bool] = False

    def __init__(self, config: FusionConfig, input_dims: Mapping[str, int]) -> None:
        super().__init__()
        self.config = config
        self.modalities: list[str] = sorted(input_dims)
        self.input_dims: dict[str, int] = {m: int(input_dims[m]) for m in self.modalities}

    def forward(  # pragma: no cover - abstract
        self, outputs: Mapping[str, EncoderOutput], present: Mapping[str, Tensor]
    ) -> Tensor:
        raise NotImplementedError

    @classmethod
    def conformance_configs(cls, workdir: Path) -> list[FusionConfig]:
        """Small configs for :mod:`mmfusion.testing`; the default is the config's defaults."""
        return [cls.Config()]
