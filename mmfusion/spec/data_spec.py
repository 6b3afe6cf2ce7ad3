"""The ``data:`` section: where the tables come from, which columns feed which modality, labels, splits."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..errors import DataError
from .components import DatasetSpec

BadValuePolicy = Literal["error", "absent"]
#: one policy for every input, or input (encoder key) → policy; inputs left out stop with an error
BadValuePolicies = BadValuePolicy | dict[str, BadValuePolicy]


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
    task: Literal["multiclass", "multilabel", "binary"] | None = Field(
        None, description="multiclass: one label per row, softmax; multilabel: any set of labels per row (a list "
        "cell, or labels joined by label_sep), a sigmoid per label with tuned thresholds; binary: two labels, one "
        "logit, AUROC. Default: multilabel when the label column holds lists or label_sep is set, else multiclass.")
    label_sep: str | None = Field(
        None, min_length=1, description="Multilabel: the separator of several labels in one text cell, e.g. ';'. "
        "Implies task: multilabel.")
    positive_label: str | None = Field(
        None, description="Binary: the label the one logit scores (default: the second label, in data.labels "
        "order or else sorted).")
    split: SplitSpec = Field(default_factory=SplitSpec)
    limit: RowLimits = Field(default_factory=RowLimits)
    on_bad_value: BadValuePolicies = Field(
        "error",
        description="A present cell whose value cannot be used (a missing or unreadable image file, a number "
        "that does not parse, whatever an input's modality refuses): stop with an error naming file, row and "
        "column, or treat that row's input as absent (counted, warned about and reported in summary.json). "
        "One policy for all inputs, or a mapping input → policy, e.g. {image: absent}; inputs left out: error.",
    )
    unlabelled: Literal["error", "drop"] = Field(
        "error",
        description="Rows whose label cell is empty or NaN: stop with an error naming them, or leave them out of "
        "training, validation and test (before splitting; counted in the run log and summary.json notes).",
    )

    @model_validator(mode="after")
    def _task_options_fit(self) -> DataSpec:
        """``label_sep`` only for multilabel data, ``positive_label`` only for binary, both consistent with labels."""
        if self.label_sep is not None and self.task not in (None, "multilabel"):
            raise ValueError(f"label_sep splits cells into several labels (multilabel data), but task is "
                             f"{self.task}: remove label_sep or set task: multilabel")
        if self.positive_label is not None and self.task != "binary":
            raise ValueError(f"positive_label is for task: binary (the task is {self.task or 'not set'}): set "
                             "task: binary, or remove positive_label")
        if self.task == "binary" and self.labels is not None:
            if len(self.labels) != 2:
                raise ValueError(f"task: binary needs exactly two labels, but labels lists {len(self.labels)}: "
                                 f"{', '.join(self.labels)} (use task: multiclass for more)")
            if self.positive_label is not None and self.positive_label not in self.labels:
                raise ValueError(f"positive_label '{self.positive_label}' is not one of labels "
                                 f"({', '.join(self.labels)})")
        return self

    def with_bad_value_policy(self, on_bad_value: BadValuePolicies | None = None) -> DataSpec:
        """This section with the policy for unusable values of every input replaced (``mmfusion evaluate``).

        Raises:
            DataError: a policy is not ``error`` or ``absent``.
        """
        if on_bad_value is None:
            return self
        policies = dict(on_bad_value) if isinstance(on_bad_value, Mapping) else on_bad_value
        if any(p not in ("error", "absent") for p in (policies.values() if isinstance(policies, dict) else [policies])):
            raise DataError(f"on_bad_value can be 'error' or 'absent', or a mapping input → 'error' or 'absent'; "
                            f"got {on_bad_value!r}")
        return self.model_copy(update={"on_bad_value": policies})

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
