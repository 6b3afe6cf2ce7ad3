"""Spec loading: valid specs round-trip, every kind of mistake gives one clear located message."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from mmfusion.errors import SpecError
from mmfusion.spec import load_spec, spec_to_yaml

from ..conftest import write_spec

GOOD = """\
model:
  encoders:
    text: {type: hf_text, path: PATH, pooling: mean}
    image: {type: timm, model_name: test_efficientnet, image_size: 64}
  fusion:
    type: missing_modality
    inner: {type: attention, dim: 32, num_heads: 4}
    modality_dropout: 0.2
  head: {type: mlp, hidden_dims: [16]}
"""


def _good(tmp_path: Path, tiny_bert: Path) -> Path:
    return write_spec(tmp_path, GOOD.replace("PATH", str(tiny_bert)))


def test_valid_spec_loads_with_concrete_configs_and_round_trips(tmp_path: Path, tiny_bert: Path) -> None:
    spec = load_spec(_good(tmp_path, tiny_bert))
    assert list(spec.model.encoders) == ["image", "text"]  # sorted
    assert type(spec.model.fusion).__name__ == "MissingModalityConfig"
    assert spec.model.fusion.inner.num_heads == 4
    assert spec.model.head.hidden_dims == [16]
    again = load_spec(write_spec(tmp_path, spec_to_yaml(spec), "again.yaml"))
    assert again == spec


def test_spec_is_frozen(tmp_path: Path, tiny_bert: Path) -> None:
    spec = load_spec(_good(tmp_path, tiny_bert))
    with pytest.raises(ValidationError, match="frozen"):
        spec.model.fusion.modality_dropout = 0.5  # type: ignore[misc]


def _error(tmp_path: Path, text: str) -> str:
    path = write_spec(tmp_path, text)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    return str(info.value)


def test_unknown_fusion_type_names_line_path_and_suggestion(tmp_path: Path) -> None:
    message = _error(tmp_path, "model:\n  encoders:\n    text: {type: hf_text, path: x}\n  fusion:\n"
                               "    type: atention\n")
    assert f"{tmp_path / 'spec.yaml'}:5: model.fusion.type: unknown fusion 'atention' — did you mean 'attention'?" \
        in message
    assert "available: attention, concat, film, gated, late, low_rank_tensor, mean, missing_modality, sum" in message


def test_unknown_parameter_suggests_the_right_one(tmp_path: Path) -> None:
    message = _error(tmp_path, "model:\n  encoders:\n    text: {type: hf_text, path: x}\n  fusion: {type: concat}\n"
                               "  head:\n    type: mlp\n    hidden_dim: [64]\n")
    assert ":7: model.head.hidden_dim: unknown parameter 'hidden_dim' for head 'mlp' — did you mean 'hidden_dims'?" \
        in message
    assert "parameters of mlp: activation, dropout, hidden_dims, norm" in message


def test_all_problems_reported_at_once_including_nested(tmp_path: Path) -> None:
    message = _error(tmp_path, """\
model:
  encoders:
    image: {type: timm, model_name: resnet18, image_size: tiny}
    text: {type: hf_txt, path: x}
  fusion:
    type: missing_modality
    inner: {type: attention, dim: 30, num_heads: 4}
    modality_dropout: 1.5
""")
    lines = message.splitlines()
    assert any(":3: model.encoders.image.image_size:" in line and "integer" in line for line in lines)
    assert any(":4: model.encoders.text.type: unknown encoder 'hf_txt' — did you mean 'hf_text'?" in line
               for line in lines)
    assert any(":7: model.fusion.inner:" in line and "dim (30) must be divisible by num_heads (4)" in line
               for line in lines)
    assert any(":8: model.fusion.modality_dropout:" in line and "less than 1" in line for line in lines)


def test_missing_sections_and_unknown_top_level_keys(tmp_path: Path) -> None:
    message = _error(tmp_path, "model:\n  encoders:\n    text: {type: hf_text, path: x}\ntrainng: {epochs: 3}\n")
    assert ":1: model.fusion: required but missing" in message
    assert ":4: trainng: unknown key" in message


def test_missing_type_lists_choices(tmp_path: Path, registry) -> None:  # type: ignore[no-untyped-def]
    message = _error(tmp_path, "model:\n  encoders:\n    text: {path: x}\n  fusion: {type: concat}\n")
    available = ", ".join(registry.names("encoder"))  # installed plugins (mmfusion-tabular) included
    assert f"model.encoders.text.type: missing 'type': which encoder? available: {available}" in message
    assert "hf_text, " in available and "timm" in available


def test_bad_modality_name_and_empty_encoders(tmp_path: Path) -> None:
    assert "modality names must be identifiers" in _error(
        tmp_path, "model:\n  encoders:\n    my image: {type: timm, model_name: x}\n  fusion: concat\n")
    assert "needs at least one encoder" in _error(tmp_path, "model:\n  encoders: {}\n  fusion: concat\n")


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    message = _error(tmp_path, "model:\n  encoders:\n    text: {type: hf_text\n  fusion: concat\n")
    assert "spec.yaml:" in message and "not valid YAML" in message


def test_not_a_mapping_and_missing_file(tmp_path: Path) -> None:
    assert "a spec is a mapping" in _error(tmp_path, "- just\n- a list\n")
    with pytest.raises(SpecError, match="does not exist"):
        load_spec(tmp_path / "nope.yaml")


def test_shorthand_and_qualified_type_names(tmp_path: Path) -> None:
    spec = load_spec({"model": {"encoders": {"text": {"type": "hf_text", "path": "x"}},
                                "fusion": "mmfusion:concat", "head": "linear"}})
    assert spec.model.fusion.type == "concat" and spec.model.head.type == "linear"


def test_relative_paths_resolve_against_the_spec_folder(tmp_path: Path, tiny_bert: Path) -> None:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "weights.pth").write_bytes(b"")
    path = write_spec(folder, "model:\n  encoders:\n    image: {type: timm, model_name: resnet18, "
                              "weights: weights.pth}\n  fusion: concat\n")
    spec = load_spec(path)
    assert spec.model.encoders["image"].weights == str((folder / "weights.pth").resolve())
    # names that are not files next to the spec (hub ids, package: paths) are kept as written
    spec = load_spec({"model": {"encoders": {"text": {"type": "hf_text", "path": "bert-base-uncased"}},
                                "fusion": "concat"}})
    assert spec.model.encoders["text"].path == "bert-base-uncased"


def test_qualified_names_survive_saving_and_building(tmp_path: Path, tiny_bert: Path) -> None:
    from mmfusion.model.builder import build_model

    spec = load_spec({"model": {"encoders": {"text": {"type": "mmfusion:hf_text", "path": str(tiny_bert)}},
                                "fusion": {"type": "mmfusion:concat"}, "head": "mmfusion:mlp"}})
    assert spec.model.fusion.type == "concat" and spec.model.fusion.component_name == "mmfusion:concat"
    again = load_spec(write_spec(tmp_path, spec_to_yaml(spec), "saved.yaml"))
    assert again.model.fusion.component_name == "mmfusion:concat"
    assert type(build_model(again, 2).head).__name__ == "MLPHead"


def test_explicit_nulls_survive_saving(tmp_path: Path) -> None:
    spec = load_spec({"model": {"encoders": {"text": {"type": "hf_text", "path": "x"}}, "fusion": "concat"},
                      "train": {"clip_grad_norm": None}})
    again = load_spec(write_spec(tmp_path, spec_to_yaml(spec), "saved.yaml"))
    assert again.train.clip_grad_norm is None
