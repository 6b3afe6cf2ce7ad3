"""Evaluating a run: metrics, per-class report, confusion matrix, robustness without each modality."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from mmfusion.errors import DataError, MMFusionError
from mmfusion.evaluation.evaluate import evaluate_run
from mmfusion.evaluation.predictions import read_predictions
from mmfusion.tasks.metrics import task_metrics


@pytest.fixture
def run_dir(xor_run) -> Path:  # type: ignore[no-untyped-def]
    return xor_run.run_dir


def test_report_on_the_runs_test_split(run_dir: Path) -> None:
    report = evaluate_run(run_dir)
    assert report.rows == 60 and report.accuracy >= 0.9
    conditions = {row["condition"]: row for row in report.robustness}
    assert set(conditions) == {"all modalities", "without image", "without text"}
    assert conditions["all modalities"]["accuracy"] == report.accuracy
    for name in ("without image", "without text"):  # XOR: one modality alone cannot do it
        assert conditions[name]["accuracy"] < report.accuracy - 0.2
    assert sum(map(sum, report.confusion)) == 60 and report.labels == ["different", "same"]
    assert set(report.per_class) >= {"different", "same", "macro avg"}
    saved = json.loads((report.out_dir / "report.json").read_text())
    assert saved["accuracy"] == report.accuracy
    markdown = (report.out_dir / "report.md").read_text()
    assert "| without text |" in markdown and "confusion_matrix.png" in markdown
    assert (report.out_dir / "confusion_matrix.png").stat().st_size > 1000
    assert (report.out_dir / "robustness.png").stat().st_size > 1000
    saved = read_predictions(report.files["predictions"])  # every row's scores, for paired tests and ensembles
    assert len(saved) == 60 and len(set(saved.rows.tolist())) == 60 and saved.label_names == report.labels
    assert task_metrics("multiclass", saved.labels, saved.probabilities)["accuracy"] == report.accuracy


def test_report_on_a_given_file_with_absent_modalities(run_dir: Path, xor_data: Path, tmp_path: Path) -> None:
    table = pd.read_csv(xor_data).head(40)
    table.loc[:9, "text"] = ""
    table["image"] = [str(xor_data.parent / p) for p in table["image"]]
    path = tmp_path / "new.csv"
    table.to_csv(path, index=False)
    report = evaluate_run(run_dir, path, out=tmp_path / "report")
    assert report.rows == 40 and report.data == "new.csv"
    assert (tmp_path / "report" / "report.md").exists()
    # an input absent from every row (e.g. measuring text-only performance on a file without images)
    table["image"] = ""
    table.to_csv(path, index=False)
    report = evaluate_run(run_dir, path, out=tmp_path / "no-images")
    assert report.rows == 40 and 0 <= report.accuracy <= 1


def test_bad_evaluation_data_is_named(run_dir: Path, xor_data: Path, tmp_path: Path) -> None:
    table = pd.read_csv(xor_data).head(5)
    table.loc[2, "label"] = "maybe"
    path = tmp_path / "bad.csv"
    table.to_csv(path, index=False)
    with pytest.raises(DataError, match="unknown label 'maybe' in lines 4"):
        evaluate_run(run_dir, path, image_root=xor_data.parent)
    with pytest.raises(MMFusionError, match="not a run directory"):
        evaluate_run(tmp_path)


def test_corruption_curves(run_dir: Path, tmp_path: Path) -> None:
    report = evaluate_run(run_dir, corruptions=["image:occlusion=0,0.5,1", "text:word_dropout=0,1"],
                          out=tmp_path / "curves")
    points = {(r["modality"], r["corruption"], r["intensity"]): r["accuracy"] for r in report.corruption_curves}
    assert len(points) == 5
    assert points[("image", "occlusion", 0.0)] == report.accuracy  # intensity 0 is the clean data
    assert points[("text", "word_dropout", 1.0)] < report.accuracy - 0.2  # no words left: XOR breaks
    summary = {(r["modality"], r["corruption"]): r for r in report.corruption_summary}
    assert 0 < summary[("text", "word_dropout")]["relative_robustness"] < 1
    assert (tmp_path / "curves" / "corruption_curves.png").stat().st_size > 1000
    assert "Robustness curves" in (tmp_path / "curves" / "report.md").read_text()
    with pytest.raises(MMFusionError, match="applies to image inputs"):
        evaluate_run(run_dir, corruptions=["text:blur"])
    with pytest.raises(MMFusionError, match="cannot corrupt 'audio'"):
        evaluate_run(run_dir, corruptions=["audio:blur"])


def test_unlabelled_data_is_a_clear_error(run_dir: Path, xor_data: Path, tmp_path: Path) -> None:
    table = pd.read_csv(xor_data).head(5).drop(columns=["label"])
    with pytest.raises(DataError, match="no label column 'label'.*mmfusion predict --csv") as info:
        evaluate_run(run_dir, table, image_root=xor_data.parent)
    assert "__mmfusion" not in str(info.value)  # only the user's own columns are listed


def test_missing_images_are_an_error_or_absent_as_asked(run_dir: Path, xor_data: Path, tmp_path: Path) -> None:
    table = pd.read_csv(xor_data).head(12)
    table.loc[3, "image"] = "gone.png"
    path = tmp_path / "holes.csv"
    table.to_csv(path, index=False)
    with pytest.raises(DataError, match=r"holes.csv line 5 .*gone.png does not exist[\s\S]*--on-bad-value absent"):
        evaluate_run(run_dir, path, image_root=xor_data.parent)
    report = evaluate_run(run_dir, path, image_root=xor_data.parent, on_bad_value="absent", out=tmp_path / "r")
    assert report.rows == 12


def test_a_file_is_read_only_for_the_columns_evaluation_needs(run_dir: Path, xor_data: Path, tmp_path: Path) -> None:
    from mmfusion.evaluation.evaluate import _read_needed
    from mmfusion.run.load import load_run

    table = pd.read_csv(xor_data).head(12)
    table["notes"] = "a long remark that evaluation never reads " * 20
    path = tmp_path / "wide.csv"
    table.to_csv(path, index=False)
    read = _read_needed(path, load_run(run_dir), "label")
    assert sorted(read.columns) == ["image", "label", "text"] and len(read) == 12
    assert evaluate_run(run_dir, path, image_root=xor_data.parent, out=tmp_path / "report").rows == 12
    table["label"] = ""  # messages still list every column of the file
    table.to_csv(path, index=False)
    with pytest.raises(DataError, match=r"holds no labels: .* Columns: image, text, label, notes"):
        evaluate_run(run_dir, path, image_root=xor_data.parent)
