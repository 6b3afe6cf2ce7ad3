"""The whole spec: the top-level sections of a spec file."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from .data_spec import DataSpec
from .model_spec import ModelSpec
from .train_spec import TrainSpec


class Spec(BaseModel):
    """A complete mmfusion spec. Each top-level key is one section model.

    Only ``model`` is required (``mmfusion build`` needs nothing else); training needs ``data``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: ModelSpec = Field(description="Encoders, fusion and head.")
    data: DataSpec | None = Field(None, description="Tables, columns, labels and splits (needed to train).")
    train: TrainSpec = Field(default_factory=TrainSpec, description="Optimisation settings.")
