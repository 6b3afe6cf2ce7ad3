"""evaluate reports each input's drift from the training rows: quiet on data like the training data, a warning
naming the input on data unlike it."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmfusion.evaluation.evaluate import evaluate_run

from ..conftest import noise_pictures


def test_the_test_split_is_like_the_training_rows(xor_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    report = evaluate_run(xor_run.run_dir, out=tmp_path / "eval")
    drift = {d["input"]: d for d in report.drift}
    assert set(drift) == {"image", "text"} and not any(d["drifted"] for d in drift.values())
    assert drift["image"]["rows"] == report.rows
    markdown = (tmp_path / "eval" / "report.md").read_text()
    assert "## Drift" in markdown and "like training" in markdown


def test_other_pictures_are_flagged_on_the_image(xor_run, xor_data: Path, tmp_path: Path) -> None:  # type: ignore
    with pytest.warns(UserWarning, match="input 'image': the evaluated rows' values look unlike"):
        report = evaluate_run(xor_run.run_dir, noise_pictures(xor_data, tmp_path), out=tmp_path / "eval")
    drift = {d["input"]: d for d in report.drift}
    assert drift["image"]["drifted"] and drift["image"]["auroc"] >= 0.9
    assert not drift["text"]["drifted"]
    assert "| image |" in (tmp_path / "eval" / "report.md").read_text()
