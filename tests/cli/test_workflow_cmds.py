"""`mmfusion train / evaluate / predict` from the command line, including their error paths."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from mmfusion.cli import cli

from ..conftest import xor_spec


@pytest.mark.slow
def test_train_then_resume_refusal_and_default_run_dir(xor_data: Path, tiny_bert: Path, feature_cache: Path,
                                                       tmp_path: Path, monkeypatch) -> None:  # type: ignore
    monkeypatch.chdir(tmp_path)
    spec = xor_spec(tmp_path, xor_data, tiny_bert, feature_cache, epochs=2, name="xor.yaml")
    runner = CliRunner()
    result = runner.invoke(cli, ["train", str(spec), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "trained 2 epoch(s)" in result.output and "test accuracy" in result.output
    assert (tmp_path / "runs" / "xor" / "weights.safetensors").exists()
    again = runner.invoke(cli, ["train", str(spec), "--quiet"])  # a second run gets a new folder
    assert again.exit_code == 0 and (tmp_path / "runs" / "xor-2" / "weights.safetensors").exists()
    taken = runner.invoke(cli, ["train", str(spec), "--quiet", "--out", "runs/xor"])
    assert taken.exit_code == 2 and "already holds a run" in taken.output and "Traceback" not in taken.output


def test_evaluate_outputs(xor_run) -> None:  # type: ignore[no-untyped-def]
    runner = CliRunner()
    result = runner.invoke(cli, ["evaluate", str(xor_run.run_dir), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["rows"] == 60 and {r["condition"] for r in report["robustness"]} == {
        "all modalities", "without image", "without text"}
    markdown = runner.invoke(cli, ["evaluate", str(xor_run.run_dir), "--markdown"])
    assert markdown.output.startswith("# Evaluation on")
    table = runner.invoke(cli, ["evaluate", str(xor_run.run_dir), "--quiet"])
    assert "robustness" in table.output and "per class" in table.output


def test_predict_one_sample_csv_and_plot(xor_run, xor_data: Path, tmp_path: Path) -> None:  # type: ignore
    runner = CliRunner()
    image = str(xor_data.parent / "images" / "00000.png")
    result = runner.invoke(cli, ["predict", str(xor_run.run_dir), "--image", image, "--text", "a shape alpha",
                                 "--top-k", "1", "--plot", str(tmp_path / "p.png")])
    assert result.exit_code == 0, result.output
    prediction = json.loads(result.stdout)
    assert prediction["label"] in {"same", "different"} and len(prediction["top"]) == 1
    assert (tmp_path / "p.png").stat().st_size > 1000
    text_only = runner.invoke(cli, ["predict", str(xor_run.run_dir), "--input", "text=beta", "--format", "csv"])
    assert text_only.exit_code == 0 and text_only.output.startswith("label,probability")
    out = tmp_path / "pred.csv"
    table = runner.invoke(cli, ["predict", str(xor_run.run_dir), "--csv", str(xor_data), "--output", str(out)])
    assert table.exit_code == 0, table.output
    assert len(pd.read_csv(out)) == 300


def test_predict_errors(xor_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    runner = CliRunner()
    for args, expected in [
        ([], "nothing to predict"),
        (["--image", str(tmp_path / "nope.png")], "does not exist"),
        (["--input", "text"], "expects MODALITY=VALUE"),
        (["--input", "audio=x.wav"], "unknown input(s) audio"),
    ]:
        result = runner.invoke(cli, ["predict", str(xor_run.run_dir), *args])
        assert result.exit_code == 2 and expected in result.output and "Traceback" not in result.output, args
    result = runner.invoke(cli, ["predict", str(tmp_path), "--text", "x"])
    assert result.exit_code == 2 and "not a run directory" in result.output


def test_the_cli_leaves_the_callers_warning_format_alone() -> None:
    import warnings

    before = warnings.formatwarning
    CliRunner().invoke(cli, ["schema"])
    assert warnings.formatwarning is before
