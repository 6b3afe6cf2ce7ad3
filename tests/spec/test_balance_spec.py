"""The options against modality imbalance as spec keys: defaults, shorthands, errors that name the input, and
sweep variants that switch them or keep only some inputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmfusion.errors import SpecError
from mmfusion.spec import load_spec
from mmfusion.spec.schema import spec_json_schema
from mmfusion.sweep.spec import VariantSpec
from mmfusion.sweep.variants import variant_spec

from ..conftest import write_spec

BASE = """\
model:
  encoders:
    image: {{type: timm, model_name: test_efficientnet}}
    text: {{type: hf_text, path: bert}}
  fusion: concat
train:
{train}"""


def _spec(tmp_path: Path, train: str):  # type: ignore[no-untyped-def]
    return load_spec(write_spec(tmp_path, BASE.format(train=train)))


def test_defaults_and_shorthands(tmp_path: Path) -> None:
    spec = _spec(tmp_path, "  aux_unimodal: {}\n  modulation: {type: ogm_ge}\n  modality_dropout: 0.25\n")
    assert (spec.train.aux_unimodal.weight, spec.train.aux_unimodal.inference) == (0.5, "fused")
    assert (spec.train.modulation.alpha, spec.train.modulation.noise, spec.train.modulation.until_epoch) == \
        (0.5, True, None)
    assert (spec.train.modality_dropout.rate, spec.train.modality_dropout.warmup_epochs) == (0.25, 0)
    plain = _spec(tmp_path, "  epochs: 1\n")
    assert plain.train.aux_unimodal is None and plain.train.modulation is None and plain.train.modality_dropout is None


def test_errors_name_the_key_and_the_inputs(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"spec.yaml:\d+: train.modality_dropout.rate: txt is not an input of the "
                                        r"model; its inputs are image, text"):
        _spec(tmp_path, "  modality_dropout: {rate: {txt: 0.5}}\n")
    with pytest.raises(SpecError, match="text: a dropout probability must satisfy 0 <= p < 1, got 1"):
        _spec(tmp_path, "  modality_dropout: {rate: {text: 1}}\n")
    with pytest.raises(SpecError, match="train.modulation.type"):
        _spec(tmp_path, "  modulation: {type: ogm}\n")
    with pytest.raises(SpecError, match="train.aux_unimodal.inference"):
        _spec(tmp_path, "  aux_unimodal: {inference: vote}\n")


def test_sweep_variants_switch_the_options_and_baselines_keep_their_inputs_rates(tmp_path: Path) -> None:
    base = _spec(tmp_path, "  modality_dropout: {rate: {image: 0.1, text: 0.5}, warmup_epochs: 2}\n")
    on = variant_spec(base, VariantSpec(name="balanced", set={"train.aux_unimodal.weight": 0.3,
                                                               "train.modulation": {"alpha": 1.0}}), 0)
    assert on.train.aux_unimodal.weight == 0.3 and on.train.modulation.alpha == 1.0
    off = variant_spec(base, VariantSpec(name="no dropout", set={"train.modality_dropout": None}), 0)
    assert off.train.modality_dropout is None
    image_only = variant_spec(base, VariantSpec(name="image only", modalities=["image"]), 0)
    assert image_only.train.modality_dropout.rate == {"image": 0.1}


def test_the_schema_documents_the_options() -> None:
    train = spec_json_schema()["$defs"]["TrainSpec"]["properties"]
    assert {"aux_unimodal", "modulation", "modality_dropout"} <= set(train)
