"""The ``model:`` section: one encoder per modality, a fusion and a classifier head."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .components import EncoderSpec, FusionSpec, HeadSpec

_MODALITY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ModelSpec(BaseModel):
    """Which encoder reads each modality, how their outputs are fused, and the head on top."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    encoders: dict[str, EncoderSpec] = Field(  # type: ignore[valid-type]
        description="One encoder per modality, keyed by the modality's name in this spec (e.g. image, text)."
    )
    fusion: FusionSpec = Field(description="How the encoder outputs are combined.")  # type: ignore[valid-type]
    head: HeadSpec | None = Field(  # type: ignore[valid-type]
        None, description="The classifier head on the fused vector (default: linear; none for fusions that "
        "output logits themselves, such as late).",
    )

    @field_validator("encoders")
    @classmethod
    def _at_least_one_valid_name(cls, encoders: dict) -> dict:
        if not encoders:
            raise ValueError("needs at least one encoder, e.g. `image: {type: timm, model_name: resnet18}`")
        bad = [name for name in encoders if not _MODALITY_RE.match(name)]
        if bad:
            raise ValueError(f"modality names must be identifiers (letters, digits, _): {', '.join(bad)}")
        return dict(sorted(encoders.items()))
