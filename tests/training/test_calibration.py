"""train.calibration: temperature, fitted on validation rows, kept in the run and applied everywhere."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from mmfusion.api import fit
from mmfusion.errors import SpecError
from mmfusion.evaluation.evaluate import evaluate_run
from mmfusion.plots import reliability_figure
from mmfusion.prediction.predictor import Predictor
from mmfusion.run.errors import RunDirError
from mmfusion.run.load import load_run
from mmfusion.tasks.calibration import ece, reliability
from tests.conftest import write_spec, xor_spec

pytestmark = pytest.mark.slow


def _noisy(folder: Path, share: float = 0.2) -> Path:
    """900 XOR rows with ``share`` of the labels flipped: a model trained long on them is over-confident."""
    from mmfusion.testing.data import make_xor_dataset

    xor_data = make_xor_dataset(folder, n=900, seed=5)
    table = pd.read_csv(xor_data)
    flip = np.random.default_rng(0).random(len(table)) < share
    table.loc[flip, "label"] = table.loc[flip, "label"].map({"same": "different", "different": "same"})
    table.to_csv(folder / "noisy.csv", index=False)
    return folder / "noisy.csv"


def test_temperature_is_fitted_kept_and_applied_without_changing_decisions(xor_data: Path, tiny_bert: Path,
                                                                           feature_cache: Path,
                                                                           tmp_path: Path) -> None:
    csv = _noisy(tmp_path / "data")
    spec = xor_spec(tmp_path, csv, tiny_bert, feature_cache, epochs=40, extra="  calibration: temperature\n")
    result = fit(spec, out=tmp_path / "run", progress=False)
    saved = json.loads((tmp_path / "run" / "calibration.json").read_text())
    (t,) = saved["temperatures"].values()
    assert list(saved["temperatures"]) == ["all classes"] and t > 1  # trained long: over-confident
    assert saved["validation"]["after"]["ece"] < saved["validation"]["before"]["ece"]
    assert "calibration" in result.summary["test"]

    run = load_run(tmp_path / "run")
    assert run.temperature == [pytest.approx(t, rel=1e-5)]
    report = evaluate_run(run, out=tmp_path / "eval")
    cal = report.calibration
    assert cal["temperature"] == run.temperature and cal["log_loss"] < cal["uncalibrated"]["log_loss"]
    assert cal["ece"] < cal["uncalibrated"]["ece"] and cal["brier"] < cal["uncalibrated"]["brier"]
    assert (tmp_path / "eval" / "reliability.png").exists() and "temperature-scaled" in report.to_markdown()

    predictor = Predictor(run)
    table = pd.read_csv(xor_data).head(30)
    samples = [{"image": str(xor_data.parent / p), "text": x} for p, x in zip(table["image"], table["text"])]
    found = predictor._predictions(samples)
    logits = torch.from_numpy(found.logits)
    assert np.allclose(found.probabilities, (logits / t).softmax(dim=1).numpy(), atol=1e-5)
    assert (found.probabilities.argmax(axis=1) == logits.numpy().argmax(axis=1)).all()  # same decisions

    # a damaged calibration.json is named, with what it should hold
    (tmp_path / "run" / "calibration.json").write_text(json.dumps({"temperatures": {"all classes": -1}}))
    with pytest.raises(RunDirError, match="not a finite positive number"):
        load_run(tmp_path / "run")
    (tmp_path / "run" / "calibration.json").write_text('{"temperatures": {"all classes": Infinity}}')
    with pytest.raises(RunDirError, match="Infinity, not a finite positive number"):
        load_run(tmp_path / "run")


def test_exports_carry_the_temperature_and_onnx_applies_it(xor_data: Path, tiny_bert: Path, feature_cache: Path,
                                                           tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    spec = xor_spec(tmp_path, xor_data, tiny_bert, feature_cache, epochs=4,
                    extra="  calibration: temperature\n  precision: fp32\n")
    fit(spec, out=tmp_path / "run", progress=False)
    onnx = Predictor(tmp_path / "run", backend="onnx")
    metadata = json.loads((tmp_path / "run" / "export" / "model.onnx.json").read_text())
    assert metadata["temperature"] == {"all classes": pytest.approx(onnx.run.temperature[0], rel=1e-6)}
    table = pd.read_csv(xor_data).head(10)
    samples = [{"image": str(xor_data.parent / p), "text": x} for p, x in zip(table["image"], table["text"])]
    assert np.allclose(onnx.predict_proba(samples), Predictor(tmp_path / "run").predict_proba(samples), atol=1e-4)




def test_binary_runs_get_one_temperature_and_thresholds_tuned_after_it(xor_data: Path, tiny_bert: Path,
                                                                       feature_cache: Path, tmp_path: Path) -> None:
    xor = xor_spec(tmp_path, xor_data, tiny_bert, feature_cache, epochs=25, extra="  calibration: temperature\n")
    text = xor.read_text().replace("  split:", "  task: binary\n  positive_label: same\n  split:")
    text = text.replace("validation: 0.2, test: 0.2", "validation: 0.25, test: 0.25")
    spec = write_spec(tmp_path, text, "binary.yaml")
    fit(spec, out=tmp_path / "run", progress=False)
    saved = json.loads((tmp_path / "run" / "calibration.json").read_text())
    assert list(saved["temperatures"]) == ["same"]
    run = load_run(tmp_path / "run")
    report = evaluate_run(run, out=tmp_path / "eval")
    assert report.metrics["auroc"] > 0.9 and report.calibration["ece"] <= report.calibration["uncalibrated"]["ece"]
    assert "log-odds" in report.reliance["explained"]  # binary explains its one logit


def test_temperature_without_validation_rows_is_a_clear_error(xor_data: Path, tiny_bert: Path, feature_cache: Path,
                                                              tmp_path: Path) -> None:
    text = xor_spec(tmp_path, xor_data, tiny_bert, feature_cache, epochs=1,
                    extra="  calibration: temperature\n").read_text()
    text = text.replace("split: {validation: 0.2, test: 0.2}", "split: {validation: 0, test: 0.2}")
    spec = write_spec(tmp_path, text, "no-val.yaml")
    with pytest.raises(SpecError, match="train.calibration: temperature is fitted on the validation data"):
        fit(spec, out=tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_the_reliability_diagram_says_what_it_shows() -> None:
    rng = np.random.default_rng(0)
    p = rng.uniform(0.5, 1, 400)
    labels = (rng.random(400) < p).astype(int)
    probabilities = np.stack([1 - p, p], axis=1)
    bins = reliability("binary", labels, probabilities)
    fig = reliability_figure(bins, {"ece": ece("binary", labels, probabilities)}, title="Reliability: test")
    top, bottom = fig.axes
    assert top.get_title() == "Reliability: test" and top.get_ylabel() == "observed frequency"
    assert bottom.get_xlabel() == "predicted probability (positive label)" and bottom.get_ylabel() == "share of rows"
    texts = [t.get_text() for t in top.get_legend().get_texts()]
    assert texts[0] == "perfect calibration" and texts[1].startswith("model (ECE 0.0")
    fig.canvas.draw()
    outer, box = fig.get_window_extent(), top.get_legend().get_window_extent()
    assert outer.contains(*box.min) and outer.contains(*box.max)
    assert sum(p.get_height() for p in bottom.patches) == pytest.approx(1.0)
