"""``evaluate --baseline RUN``: the run without the inputs a baseline lacks, against that baseline, same rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from mmfusion.api import evaluate, fit
from mmfusion.cli import cli
from mmfusion.errors import MMFusionError
from mmfusion.evaluation.baselines import compare, removed_inputs

from ..conftest import xor_spec


def test_a_baseline_must_read_fewer_of_the_runs_inputs() -> None:
    assert removed_inputs(["image", "text"], ["text"], "runs/t") == ["image"]
    with pytest.raises(MMFusionError, match="reads the same inputs as the run"):
        removed_inputs(["image", "text"], ["text", "image"], "runs/b")
    with pytest.raises(MMFusionError, match="it reads audio, which the run has not"):
        removed_inputs(["image", "text"], ["audio"], "runs/a")


def test_compare_flags_a_drop_of_more_than_a_point() -> None:
    found = compare(lambda removed: {"image": 0.60, "text": 0.365}[removed[0]],
                    [("t", ["image"], 0.62), ("i", ["text"], 0.37)], "accuracy")
    assert [d["below"] for d in found] == [True, False]
    assert found[0]["difference"] == pytest.approx(-0.02)


@pytest.mark.slow
def test_evaluate_compares_the_run_without_the_image_with_a_text_only_run(xor_data: Path, tiny_bert: Path,
                                                                           feature_cache: Path, tmp_path: Path) -> None:
    fit(xor_spec(tmp_path, xor_data, tiny_bert, feature_cache, epochs=2), out=tmp_path / "fused")
    text_only = xor_spec(tmp_path, xor_data, tiny_bert, feature_cache, epochs=2, name="text.yaml").read_text()
    text_only = "\n".join(line for line in text_only.splitlines() if not line.strip().startswith("image:"))
    (tmp_path / "text.yaml").write_text(text_only + "\n")
    fit(tmp_path / "text.yaml", out=tmp_path / "text")
    report = evaluate(tmp_path / "fused", baselines=[tmp_path / "text"])
    (found,) = report.baselines
    without = {r["condition"]: r["accuracy"] for r in report.robustness}["without image"]
    own = json.loads((tmp_path / "text" / "summary.json").read_text())["test"]["accuracy"]
    assert found["removed"] == ["image"] and found["without"] == pytest.approx(without)
    assert found["baseline_value"] == pytest.approx(own)  # the same rows: the baseline's own test split here
    assert found["below"] == (without < own - 0.01)
    assert "## Losing an input: against runs of the inputs left" in Path(report.files["markdown"]).read_text()

    result = CliRunner().invoke(cli, ["evaluate", str(tmp_path / "fused"), "--baseline", str(tmp_path / "fused"),
                                      "--quiet"])
    assert result.exit_code != 0 and "reads the same inputs as the run" in result.output
