"""``data.on_bad_value``: one policy for every modality, per input.

A modality defined here, in a plugin registered like any other, refuses some cells when parsing and some
values when loading; the core applies the policy the same way as for images.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path
from typing import Any, Literal

import pytest
import torch
import yaml
from torch import nn

from mmfusion import (
    BadValueError,
    CellContext,
    DataError,
    Encoder,
    EncoderConfig,
    EncoderOutput,
    Modality,
    hookimpl,
    is_empty_cell,
)
from mmfusion.api import fit
from mmfusion.data.bad_values import UnusableValuesError, bad_value_policies
from mmfusion.registry import load_registry
from mmfusion.spec.data_spec import DataSpec
from mmfusion.spec.loader import load_spec, spec_to_yaml


class ReadingModality(Modality):
    """A meter reading in [0, 1]: words are refused when parsed, out-of-range numbers when loaded."""

    name = "reading"

    def parse(self, cells: Any, context: CellContext) -> Any | None:
        if is_empty_cell(cells[0]):
            return None
        try:
            return float(cells[0])
        except ValueError:
            raise BadValueError(f"{cells[0]!r} is not a reading", context) from None

    def load(self, reference: Any) -> Any:
        if not 0 <= reference <= 1:
            raise BadValueError(f"reading {reference:g} is outside 0..1 (a broken meter)")  # the core adds where
        return reference


class ReadingConfig(EncoderConfig):
    type: Literal["reading"] = "reading"


class ReadingEncoder(Encoder):
    """One reading → a small vector."""

    name = "reading"
    Config = ReadingConfig
    modality = "reading"

    def __init__(self, config: ReadingConfig) -> None:
        super().__init__(config)
        self.linear = nn.Linear(1, 4)
        self.output_dim = 4

    def preprocess(self, value: Any, *, train: bool = False) -> dict[str, torch.Tensor]:
        return {"x": torch.tensor([value], dtype=torch.float32)}

    def example_input(self, rng: random.Random) -> Any:
        return rng.random()

    def forward(self, inputs: dict[str, torch.Tensor]) -> EncoderOutput:
        return EncoderOutput(self.linear(inputs["x"]))


class ReadingPlugin:
    @staticmethod
    @hookimpl
    def mmfusion_modalities() -> list[type]:
        return [ReadingModality]

    @staticmethod
    @hookimpl
    def mmfusion_encoders() -> list[type]:
        return [ReadingEncoder]


@pytest.fixture(scope="module")
def registry():  # type: ignore[no-untyped-def]
    return load_registry(autoload=False, extra=[ReadingPlugin()])


def _csv(folder: Path, bad: dict[tuple[int, str], str]) -> Path:
    """24 rows of readings a and b; ``bad`` puts other cells at (row index, column)."""
    rng = random.Random(0)
    path = folder / "meters.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["a", "b", "label"])
        for i in range(24):
            a, b = rng.random(), rng.random()
            writer.writerow([bad.get((i, "a"), f"{a:.3f}"), bad.get((i, "b"), f"{b:.3f}"), "hi" if a > 0.5 else "lo"])
    return path


def _spec(folder: Path, csv_path: Path, **data: Any) -> dict[str, Any]:
    return {
        "model": {"encoders": {"a": {"type": "reading"}, "b": {"type": "reading"}},
                  "fusion": {"type": "concat", "projection_dim": 4}, "head": {"type": "linear"}},
        "data": {"source": {"type": "csv", "train": str(csv_path)}, "split": {"validation": 0.25}, **data},
        "train": {"epochs": 1, "batch_size": 8, "cache_dir": str(folder / "cache"), "num_workers": 0},
    }


@pytest.mark.slow
def test_a_plugin_modality_follows_the_policy_of_its_input(tmp_path: Path, registry) -> None:  # type: ignore
    data = _csv(tmp_path, {(1, "a"): "n/a", (3, "a"): "7", (5, "b"): "7"})  # lines 3 and 5 (a), 7 (b)
    with pytest.raises(UnusableValuesError) as info:  # a is absent, b still an error
        fit(_spec(tmp_path, data, on_bad_value={"a": "absent"}), out=tmp_path / "run", registry=registry)
    message = str(info.value)
    assert "1 unusable value(s) in meters.csv" in message
    assert "meters.csv line 7 (column 'b'): reading 7 is outside 0..1" in message
    assert "on_bad_value: {b: absent}" in message and "a: absent" not in message  # the hint names b only
    assert [(v.input, v.where) for v in info.value.values] == [("b", "meters.csv line 7 (column 'b')")]

    result = fit(_spec(tmp_path, data, on_bad_value="absent"), out=tmp_path / "run", registry=registry)
    counted = {m: sum(part["bad_values_as_absent"].get(m, 0) for part in result.summary["data"].values())
               for m in ("a", "b")}
    assert counted == {"a": 2, "b": 1}
    assert sum(part["present"]["a"] for part in result.summary["data"].values()) == 22


def test_a_plugin_modality_parse_error_names_file_row_and_column(tmp_path: Path, registry) -> None:  # type: ignore
    data = _csv(tmp_path, {(1, "a"): "n/a", (2, "a"): "n/a"})
    with pytest.raises(DataError) as info:
        fit(_spec(tmp_path, data), out=tmp_path / "run", registry=registry)
    message = str(info.value)
    assert "meters.csv line 3 (column 'a'): 'n/a' is not a reading" in message
    assert "meters.csv line 4 (column 'a'): 'n/a' is not a reading" in message  # a repeat names its own line
    assert "data.on_bad_value: {a: absent}" in message


def test_on_bad_value_names_only_inputs_of_the_model(tmp_path: Path, registry) -> None:  # type: ignore
    data = _csv(tmp_path, {})
    with pytest.raises(DataError, match=r"data\.on_bad_value names 'c', but the model's inputs are a, b"):
        fit(_spec(tmp_path, data, on_bad_value={"c": "absent"}), out=tmp_path / "run", registry=registry)


def test_evaluate_overrides_every_inputs_policy_and_the_spec_loads_again(tmp_path: Path) -> None:
    inputs = ["photo", "caption"]
    spec = DataSpec(on_bad_value={"caption": "absent"})
    assert bad_value_policies(spec, inputs) == {"photo": "error", "caption": "absent"}
    # evaluate's override (--on-bad-value) replaces the policy of every input
    assert bad_value_policies(spec.with_bad_value_policy(on_bad_value="absent"), inputs) == \
        {"photo": "absent", "caption": "absent"}
    assert spec.with_bad_value_policy() == spec
    with pytest.raises(DataError, match="'error' or 'absent'"):
        spec.with_bad_value_policy(on_bad_value={"photo": "skip"})

    model = {"encoders": {"image": {"type": "timm", "model_name": "test_efficientnet"}}, "fusion": "concat"}
    again = spec_to_yaml(load_spec({"model": model, "data": {"on_bad_value": {"image": "absent"}}}))
    assert load_spec(yaml.safe_load(again)).data.on_bad_value == {"image": "absent"}  # type: ignore[union-attr]


def test_a_single_input_sweep_variant_keeps_only_its_policy(tmp_path: Path) -> None:
    from mmfusion.sweep.spec import VariantSpec
    from mmfusion.sweep.variants import variant_spec

    model = {"encoders": {"image": {"type": "timm", "model_name": "test_efficientnet"},
                          "text": {"type": "hf_text", "path": str(tmp_path)}}, "fusion": "concat"}
    base = load_spec({"model": model, "data": {"on_bad_value": {"image": "absent", "text": "error"}}})
    variant = variant_spec(base, VariantSpec(name="text only", modalities=["text"]), seed=0)
    assert variant.data.on_bad_value == {"text": "error"}  # type: ignore[union-attr]
