"""The sweep file: base spec, variants (spec overrides), seeds, baselines, robustness settings."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..interfaces.locations import SpecLocation
from ..spec.loader import load_settings_file
from ..tasks.definitions import ALL_METRICS


class VariantSpec(BaseModel):
    """One variant: a name, spec overrides by dotted path, and optionally a subset of the modalities."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    set: dict[str, Any] = Field(default_factory=dict, description="Dotted spec path → value, e.g. "
                                "{'model.fusion': {type: concat}, 'train.lr': 0.003}.")
    modalities: list[str] | None = Field(None, description="Keep only these inputs (unimodal baselines).")


class EvaluateSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    corruptions: list[str] | bool = Field(
        default_factory=list,
        description="Robustness curves, e.g. ['image:gaussian_noise=0,0.25,0.5'], or true for all corruptions.")


class ReportSpec(BaseModel):
    """What the reports add beyond the metrics table: per-group results and the paired tests' resamples."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    groups: list[str] = Field(default_factory=list, description="Columns of the test table: the metrics on the "
                              "test rows of each of their values (at most 20 values a column).")
    unseen: list[str] = Field(default_factory=list, description="Columns of the data: the metrics on the test rows "
                              "whose value never occurs in the training rows, and on the others.")
    resamples: int = Field(1000, ge=0, description="Paired bootstrap resamples of the test rows (0: no paired "
                           "tests).")


class SweepSpec(BaseModel):
    """What ``mmfusion ablate`` runs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base: SpecLocation = Field(description="The spec every variant starts from (relative to the sweep file).")
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    baselines: bool = Field(True, description="Add '<modality> only' variants for every input of the base spec, "
                            "and the unimodal ensemble (the mean of their probabilities) to the reports.")
    variants: list[VariantSpec] = Field(default_factory=list)
    evaluate: EvaluateSpec = Field(default_factory=EvaluateSpec)
    report: ReportSpec = Field(default_factory=ReportSpec)
    rank_by: Literal[ALL_METRICS] | None = Field(  # type: ignore[valid-type]
        None, description="The test metric that ranks variants and answers 'does fusion pay?' (default: the "
        "task's headline metric: accuracy for multiclass, micro_f1 for multilabel, auroc for binary).")

    @field_validator("variants")
    @classmethod
    def _unique_names(cls, variants: list[VariantSpec]) -> list[VariantSpec]:
        names = [slug(v.name) for v in variants]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"variant names must be distinct (after lower-casing): {', '.join(duplicates)}")
        return variants


def slug(name: str) -> str:
    """A folder name for a variant: ``"Attention + dropout"`` → ``attention-dropout``."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "variant"


def load_sweep(path: str | Path) -> SweepSpec:
    """Read and validate a sweep file; relative paths resolve against its folder.

    Raises:
        SpecError: the file is missing or invalid (file, line and path named).
    """
    return load_settings_file(path, SweepSpec, "sweep", "a mapping with `base:` and `variants:`")
