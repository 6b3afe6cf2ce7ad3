"""Missing-modality fusion: learned placeholders for absent modalities plus per-sample modality dropout.

Wraps an inner fusion (concat, attention, ...). For every sample lacking a modality, that modality's pooled vector and
tokens are replaced by learned placeholder embeddings, so the inner fusion sees "absent" as a learned input rather than
zeros. During training, each modality of each sample is also dropped with probability ``modality_dropout`` (never all of
a sample's modalities), which teaches the model to cope when one is missing at test time. Unless the spec says
``train.graceful: false``, it also trains with ``train.graceful`` (every row also with each input alone), which keeps
the single-input levels at no cost with every input.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import torch
from pydantic import Field
from torch import Tensor, nn

from ..hookspecs import hookimpl
from ..interfaces.config import FusionConfig
from ..interfaces.encoder import EncoderOutput
from ..interfaces.fusion import Fusion
from ..model.builder import BuildContext
from ..spec.components import FusionSpec
from ..training.modality_dropout import drop_inputs


class MissingModalityConfig(FusionConfig):
    type: Literal["missing_modality"] = "missing_modality"
    inner: FusionSpec = Field(  # type: ignore[valid-type]
        default_factory=lambda: {"type": "concat"}, validate_default=True,
        description="The fusion that receives the completed inputs (e.g. concat or attention).")
    modality_dropout: float = Field(0.0, ge=0, lt=1, description="Training-time probability of dropping each "
                                    "modality of each sample.")


class MissingModalityFusion(Fusion):
    """Fill absent modalities with learned placeholders (and drop some while training), then fuse."""

    name = "missing_modality"
    Config = MissingModalityConfig
    config: MissingModalityConfig
    composite = True
    # its own modality_dropout at 0.3 cost 6 points on easy-VQA with every input; train.graceful none
    graceful_by_default = True

    def __init__(self, config: MissingModalityConfig, input_dims: Mapping[str, int], *,
                 context: BuildContext) -> None:
        super().__init__(config, input_dims)
        self.inner = context.build_fusion(config.inner, input_dims)
        self.placeholder_pooled = nn.ParameterDict({m: torch.randn(d) * 0.02 for m, d in self.input_dims.items()})
        self.placeholder_token = nn.ParameterDict({m: torch.randn(d) * 0.02 for m, d in self.input_dims.items()})
        self.output_dim = self.inner.output_dim
        self.uses_tokens = self.inner.uses_tokens

    def forward(self, outputs: Mapping[str, EncoderOutput], present: Mapping[str, Tensor]) -> Tensor:
        if self.training and self.config.modality_dropout > 0:
            # the same draw as train.modality_dropout's, at one rate for every modality
            present = drop_inputs(present, dict.fromkeys(self.modalities, self.config.modality_dropout),
                                  self.modalities)
        filled: dict[str, EncoderOutput] = {}
        for m in self.modalities:
            out = outputs[m]
            absent = ~present[m]
            pooled = torch.where(absent.unsqueeze(1), self.placeholder_pooled[m].to(out.pooled.dtype), out.pooled)
            tokens = mask = None
            if out.tokens is not None:
                tokens, mask = out.as_tokens()
                first_only = torch.zeros_like(mask)
                first_only[:, 0] = True
                # logical ops rather than where() on bools: exported graphs run on more runtimes
                mask = (mask & ~absent.unsqueeze(1)) | (first_only & absent.unsqueeze(1))
                placeholder = self.placeholder_token[m].to(tokens.dtype)
                tokens = torch.where(absent.view(-1, 1, 1), placeholder.expand_as(tokens), tokens)
            filled[m] = EncoderOutput(pooled, tokens, mask)
        everyone = {m: torch.ones_like(present[m]) for m in self.modalities}
        return self.inner(filled, everyone)

    @classmethod
    def conformance_configs(cls, workdir):  # type: ignore[no-untyped-def]
        return [MissingModalityConfig(modality_dropout=0.3), MissingModalityConfig.model_validate(
            {"inner": {"type": "attention", "dim": 32, "num_heads": 2}, "modality_dropout": 0.2})]


@hookimpl
def mmfusion_fusions() -> list[type]:
    return [MissingModalityFusion]
