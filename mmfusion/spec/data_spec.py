"""The ``data:`` section: where the tables come from, which columns feed which modality, labels, splits."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .components import DatasetSpec


class SplitSpec(BaseModel):
    """Held-out parts cut from the training table when the source has no such table (stratified, seeded)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    validation: float = Field(0.1, ge=0, lt=1, description="Fraction of train used for validation.")
    test: float = Field(0.0, ge=0, lt=1, description="Fraction of train used as a test set.")
    seed: int = 0

    @model_validator(mode="after")
    def _leaves_training_data(self) -> SplitSpec:
        if self.validation + self.test >= 0.9:
            raise ValueError(f"validation ({self.validation}) + test ({self.test}) leave too little training data")
        return self


class RowLimits(BaseModel):
    """Use at most this many rows of each table (a seeded random subset), for quick experiments."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    train: int | None = Field(None, ge=1)
    validation: int | None = Field(None, ge=1)
    test: int | None = Field(None, ge=1)


class DataSpec(BaseModel):
    """Which tables to read and how their columns map to modalities and labels."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: DatasetSpec | None = Field(  # type: ignore[valid-type]
        None, description="A dataset source, e.g. {type: csv, train: data.csv}; may be left out when the tables "
        "are given as DataFrames to mmfusion.fit().")
    columns: dict[str, str | list[str]] = Field(
        default_factory=dict,
        description="Modality → column (or columns). Defaults: the source's mapping, else a column named like "
        "the modality.",
    )
    label: str | None = Field(None, description="Label column (default: the source's, else 'label').")
    labels: list[str] | None = Field(
        None, description="All labels, in the order used for outputs (default: sorted labels of the training data)."
    )
    split: SplitSpec = Field(default_factory=SplitSpec)
    limit: RowLimits = Field(default_factory=RowLimits)
    on_bad_image: Literal["error", "absent"] = Field(
        "error",
        description="A missing or unreadable image file: stop with an error naming file and row, or treat the "
        "image as absent for that row (counted and reported).",
    )
    unlabelled: Literal["error", "drop"] = Field(
        "error",
        description="Rows whose label cell is empty or NaN: stop with an error naming them, or leave them out of "
        "training, validation and test (before splitting; counted in the run log and summary.json notes).",
    )

    @field_validator("labels")
    @classmethod
    def _distinct_labels(cls, labels: list[str] | None) -> list[str] | None:
        if labels is not None:
            if len(labels) < 2:
                raise ValueError("needs at least two labels")
            duplicates = sorted({x for x in labels if labels.count(x) > 1})
            if duplicates:
                raise ValueError(f"labels are listed twice: {', '.join(duplicates)}")
        return labels
