"""The fusion contract: encoder outputs of all modalities + per-sample presence → one vector."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import ClassVar

from torch import Tensor, nn

from .config import FusionConfig
from .encoder import EncoderOutput


class Fusion(nn.Module):
    """Base class of fusions: built with its config and ``input_dims`` (modality → encoder output dim), sets
    ``self.output_dim``; ``forward(outputs, present)`` returns ``[B, output_dim]``. ``present[m]`` is a bool
    ``[B]``: a batch may mix samples with and without a modality, and an absent modality's (filler) features must
    not reach the output. Modalities are iterated in sorted order (``self.modalities``)."""

    name: ClassVar[str]
    Config: ClassVar[type[FusionConfig]]

    output_dim: int
    #: whether forward reads token sequences (False: only pooled vectors; caches may skip tokens)
    uses_tokens: bool = True
    #: a fusion that outputs class logits itself (late fusion) is built with ``num_classes=`` as a
    #: third argument, and the model then has no separate head
    produces_logits: ClassVar[bool] = False
    #: a fusion that wraps others (an ``inner: FusionSpec`` field) is built with ``context=`` (a
    #: ``mmfusion.BuildContext``) as a keyword and builds them with ``context.build_fusion(config.inner, ...)``
    composite: ClassVar[bool] = False
    #: a fusion meant for rows that lack inputs trains with ``train.graceful`` unless the spec says otherwise
    #: (``graceful: auto``, the default; ``false`` turns it off)
    graceful_by_default: ClassVar[bool] = False

    def __init__(self, config: FusionConfig, input_dims: Mapping[str, int]) -> None:
        super().__init__()
        self.config = config
        self.modalities: list[str] = sorted(input_dims)
        self.input_dims: dict[str, int] = {m: int(input_dims[m]) for m in self.modalities}

    def forward(  # pragma: no cover - abstract
        self, outputs: Mapping[str, EncoderOutput], present: Mapping[str, Tensor]
    ) -> Tensor:
        raise NotImplementedError

    def modality_parameters(self, modality: str) -> Iterator[nn.Parameter]:
        """The parameters that read only ``modality``'s input: its per-input layers (projections, norms,
        placeholders). Gradient modulation (``train.modulation``) scales their gradients with the input's
        encoder's. The default finds them by structure: entries keyed by ``modality`` in this fusion's
        ``nn.ModuleDict``/``nn.ParameterDict`` attributes, and the same of nested fusions. Override it when a
        fusion keeps per-input layers otherwise (layers shared by several inputs belong to none).
        """
        seen: set[int] = set()
        for child in self.children():
            if isinstance(child, Fusion):
                found: Iterable[nn.Parameter] = child.modality_parameters(modality)
            elif isinstance(child, nn.ModuleDict) and modality in child:
                found = child[modality].parameters()
            elif isinstance(child, nn.ParameterDict) and modality in child:
                found = [child[modality]]
            else:
                continue
            for param in found:
                if id(param) not in seen:
                    seen.add(id(param))
                    yield param

    @classmethod
    def conformance_configs(cls, workdir: Path) -> list[FusionConfig]:
        """Small configs for :mod:`mmfusion.testing`; the default is the config's defaults."""
        return [cls.Config()]
