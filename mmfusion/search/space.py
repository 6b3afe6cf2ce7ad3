"""The tune file: a base spec, a search space over any of its keys, and how Optuna searches and prunes.

```yaml
base: spec.yaml
trials: 20
space:
  train.lr: {type: float, low: 1.0e-4, high: 0.1, log: true}
  model.fusion.dropout: {type: float, low: 0.0, high: 0.5}
  train.batch_size: {type: int, low: 16, high: 128, step: 16}
  model.fusion: {choices: [{type: concat}, {type: attention, dim: 128, num_heads: 4}]}
```
Keys are dotted spec paths, as in a sweep's ``set:``. Choices may be any YAML value; Optuna, which takes only
numbers, strings and booleans, sees mappings and lists as their JSON text.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

from ..interfaces.locations import SpecLocation
from ..registry import Registry
from ..spec.loader import load_settings_file, validate_spec
from ..spec.spec import Spec
from ..sweep.variants import apply_overrides
from ..tasks.definitions import ALL_MONITORS


class FloatRange(BaseModel):
    """A real number in [low, high], optionally on a log scale or in steps."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["float"] = "float"
    low: float
    high: float
    log: bool = Field(False, description="Sample the logarithm uniformly (learning rates, weight decay).")
    step: float | None = Field(None, gt=0, description="Only low, low + step, ... (not with log).")

    @model_validator(mode="after")
    def _bounds(self) -> FloatRange:
        _check_bounds(self.low, self.high, self.log, self.step)
        return self

    def suggest(self, trial: Any, key: str) -> float:
        return trial.suggest_float(key, self.low, self.high, log=self.log, step=self.step)

    def extremes(self) -> list[Any]:
        return [self.low, self.high]


class IntRange(BaseModel):
    """An integer in [low, high], optionally on a log scale or in steps (widths, batch sizes, epochs)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["int"]
    low: int
    high: int
    log: bool = False
    step: int = Field(1, ge=1)

    @model_validator(mode="after")
    def _bounds(self) -> IntRange:
        _check_bounds(self.low, self.high, self.log, self.step if self.step != 1 else None)
        return self

    def suggest(self, trial: Any, key: str) -> int:
        return trial.suggest_int(key, self.low, self.high, log=self.log, step=self.step)

    def extremes(self) -> list[Any]:
        return [self.low, self.high]


class Choices(BaseModel):
    """One of a list of values: numbers, strings, booleans, null, or whole mappings (e.g. a fusion's config)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["categorical"] = "categorical"
    choices: list[Any] = Field(min_length=1)
    merge: bool = Field(False, description="Each choice is a mapping whose keys are set inside the mapping at this "
                        "key, the rest kept (e.g. an encoder's {freeze: false, peft: {type: lora}}), instead of "
                        "replacing it.")

    @model_validator(mode="after")
    def _distinct(self) -> Choices:
        labels = [(type(label).__name__, label) for label in map(choice_label, self.choices)]  # 1 is not true
        if len(set(labels)) != len(labels):
            raise ValueError("choices must be distinct")
        if self.merge and not all(isinstance(c, dict) for c in self.choices):
            raise ValueError("with merge: true every choice is a mapping of keys to set")
        return self

    def suggest(self, trial: Any, key: str) -> Any:
        labels = [choice_label(c) for c in self.choices]
        return self.choices[labels.index(trial.suggest_categorical(key, labels))]

    def extremes(self) -> list[Any]:
        return list(self.choices)


def choice_label(value: Any) -> Any:
    """How Optuna stores a choice: numbers, strings, booleans and null as they are, anything else as JSON."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return json.dumps(value, sort_keys=True)


def _kind(data: Any) -> str:
    if isinstance(data, dict):
        return data.get("type") or ("categorical" if "choices" in data else "float")
    return "float"


Parameter = Annotated[
    Annotated[FloatRange, Tag("float")] | Annotated[IntRange, Tag("int")] | Annotated[Choices, Tag("categorical")],
    Discriminator(_kind),
]


def _check_bounds(low: float, high: float, log: bool, step: float | None) -> None:
    if low >= high:
        raise ValueError(f"low ({low}) must be below high ({high})")
    if log and low <= 0:
        raise ValueError(f"a log scale needs low > 0, got {low}")
    if log and step is not None:
        raise ValueError("log and step cannot be combined")


class SamplerSpec(BaseModel):
    """How trials choose their values: TPE (Bayesian, the default), random, or every combination of choices."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["tpe", "random", "grid"] = "tpe"
    seed: int | None = Field(0, description="Makes the values a study tries repeatable (null: a new draw).")
    startup_trials: int = Field(5, ge=0, description="TPE: random trials before it models the space.")


class PrunerSpec(BaseModel):
    """When a trial stops early: its validation metric is worse than the median of the other trials' at the same
    epoch (median), or it is not in the top 1/reduction_factor at its rung (asha, successive halving)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["median", "asha", "none"] = "median"
    warmup_epochs: int = Field(1, ge=0, description="median: epochs every trial trains before it can be pruned.")
    startup_trials: int = Field(2, ge=0, description="median: finished trials needed before pruning starts.")
    min_epochs: int = Field(1, ge=1, description="asha: epochs of the first rung.")
    reduction_factor: int = Field(3, ge=2, description="asha: keep 1 in this many trials per rung.")


class TuneSpec(BaseModel):
    """What ``mmfusion tune`` searches."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base: SpecLocation = Field(description="The spec every trial starts from (relative to the tune file).")
    space: dict[str, Parameter] = Field(min_length=1, description="Dotted spec path → range or choices.")
    trials: int = Field(20, ge=1, description="Finished (complete or pruned) trials in the study, all workers "
                        "together; running the command again after that adds none.")
    metric: Literal[ALL_MONITORS] | None = Field(  # type: ignore[valid-type]
        None, description="The validation metric to optimise, also each trial's train.monitor (default: the base "
        "spec's train.monitor, else the task's). val_loss is minimised, the others maximised.")
    sampler: SamplerSpec = Field(default_factory=SamplerSpec)
    pruner: PrunerSpec = Field(default_factory=PrunerSpec)
    seed: int | None = Field(None, description="train.seed of every trial (default: the base spec's).")

    @model_validator(mode="after")
    def _no_nested_keys(self) -> TuneSpec:
        for outer in self.space:
            inner = next((k for k in self.space if k.startswith(outer + ".")), None)
            if inner is not None:
                raise ValueError(f"space: '{inner}' lies inside '{outer}': one would overwrite the other; search "
                                 f"'{outer}' with choices (merge: true sets several keys inside it)")
        return self


def load_tune(path: str | Path) -> TuneSpec:
    """Read and validate a tune file; relative paths resolve against its folder.

    Raises:
        SpecError: the file is missing or invalid (file, line and YAML path named).
    """
    return load_settings_file(path, TuneSpec, "tune", "a mapping with `base:` and `space:`")


def overrides(space: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """A trial's values as dotted spec paths: a ``merge`` choice sets each of its keys below the parameter's."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        parameter = space.get(key)
        if isinstance(parameter, Choices) and parameter.merge and isinstance(value, dict):
            out.update({f"{key}.{inner}": v for inner, v in value.items()})
        else:
            out[key] = value
    return out


def trial_spec(base: Spec, values: dict[str, Any], metric: str, seed: int | None, folder: Path,
               registry: Registry | None, where: str, space: dict[str, Any] | None = None) -> Spec:
    """The base spec with a trial's values (expanded by :func:`overrides` against ``space``), its
    ``train.monitor`` the study's metric (the kept epoch is the one the study compares) and, when the tune file
    sets one, its seed."""
    raw = apply_overrides(base.model_dump(mode="json"), overrides(space or {}, values), where)
    raw.setdefault("train", {})["monitor"] = metric
    if seed is not None:
        raw["train"]["seed"] = seed
    return validate_spec(raw, source_name=where, registry=registry, base_dir=folder)
