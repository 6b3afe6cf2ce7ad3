"""The whole spec: the top-level sections of a spec file."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from .model_spec import ModelSpec


class Spec(BaseModel):
    """A complete mmfusion spec. Each top-level key is one section model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: ModelSpec = Field(description="Encoders, fusion and head.")
