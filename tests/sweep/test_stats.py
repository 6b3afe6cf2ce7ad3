"""t-intervals over seeds, the paired bootstrap over test rows, the unimodal ensemble, and the legend of results.png."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mmfusion.evaluation.predictions import SamplePredictions, read_predictions, write_predictions
from mmfusion.sweep import ensemble
from mmfusion.sweep.plot import results_figure
from mmfusion.sweep.stats import paired_bootstrap, t_interval
from mmfusion.tasks.metrics import task_metrics


def predictions(labels: np.ndarray, correct: np.ndarray, rows: np.ndarray | None = None) -> SamplePredictions:
    """Two-class scores that are right (0.8 on the true class) where ``correct`` is True."""
    right = np.where(correct, labels, 1 - labels)
    probabilities = np.full((len(labels), 2), 0.2)
    probabilities[np.arange(len(labels)), right] = 0.8
    return SamplePredictions(rows=np.arange(len(labels)) if rows is None else rows, labels=labels,
                             probabilities=probabilities, label_names=["a", "b"])


def test_the_t_interval_of_three_seeds() -> None:
    mean, low, high = t_interval([0.80, 0.82, 0.84])
    half = 4.302653 * 0.02 / np.sqrt(3)  # t(0.975, 2 degrees of freedom) · std / √n
    assert mean == pytest.approx(0.82) and (low, high) == pytest.approx((0.82 - half, 0.82 + half), abs=1e-6)
    assert t_interval([0.99, 1.0, 0.98])[2] == 1.0  # clipped: no metric exceeds 1
    assert np.isnan(t_interval([0.7])[1]) and t_interval([0.7, None, float("nan")])[0] == 0.7


def test_the_paired_bootstrap_tells_a_real_gain_from_none() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 400)
    weak = [predictions(labels, rng.random(400) < 0.6) for _ in range(2)]
    strong = [predictions(labels, rng.random(400) < 0.9) for _ in range(2)]
    shuffled = [SamplePredictions(p.rows[::-1], p.labels[::-1], p.probabilities[::-1], p.label_names)
                for p in strong]  # the same runs, rows in another order: paired by row number
    result = paired_bootstrap({"weak": weak, "strong": strong, "again": shuffled},
                              [("strong", "weak"), ("again", "strong")], "accuracy", resamples=400)
    gain = result[("strong", "weak")]
    expected = np.mean([task_metrics("multiclass", labels, p.probabilities)["accuracy"] for p in strong]) - \
        np.mean([task_metrics("multiclass", labels, p.probabilities)["accuracy"] for p in weak])
    assert gain.difference == pytest.approx(expected) and gain.low < gain.difference < gain.high
    assert gain.low > 0.2 and gain.p_value == pytest.approx(2 / 401)  # no resample reverses a 0.3 gain
    same = result[("again", "strong")]
    assert same.difference == 0 and same.low == same.high == 0 and same.p_value == 1.0
    other_rows = [predictions(labels, labels == labels, rows=np.arange(400) + 1000)]
    assert paired_bootstrap({"weak": weak, "elsewhere": other_rows}, [("elsewhere", "weak")], "accuracy",
                            resamples=50) == {}  # different test rows cannot be paired


def test_the_ensemble_averages_the_baselines_and_drops_a_removed_input(tmp_path: Path) -> None:
    labels = np.array([0, 1, 0, 1])
    image = SamplePredictions(np.arange(4), labels, np.array([[0.9, 0.1], [0.6, 0.4], [0.6, 0.4], [0.4, 0.6]]),
                              ["a", "b"])
    text = SamplePredictions(np.arange(4), labels, np.array([[0.2, 0.8], [0.1, 0.9], [0.7, 0.3], [0.3, 0.7]]),
                             ["a", "b"])
    saved = read_predictions(write_predictions(tmp_path / "p.npz", text))
    assert np.array_equal(saved.probabilities, text.probabilities.astype(np.float32)) and saved.thresholds is None
    records = [{"variant": f"{m} only", "seed": 0, "inputs": [m], "trainable_parameters": 5, "parameters": 9,
                "train_seconds": 1.5, "wall_seconds": 2.0, "run_dir": m} for m in ("image", "text")]
    [(record, combined)] = ensemble.ensemble_records(records, {id(records[0]): image, id(records[1]): saved},
                                                     ["image only", "text only"], ["accuracy", "macro_f1"])
    np.testing.assert_allclose(combined.probabilities, (image.probabilities + text.probabilities) / 2, atol=1e-7)
    assert record["metrics"]["accuracy"] == 1.0  # each alone gets 3 of 4; their mean all 4
    assert record["without_metrics"]["image"]["accuracy"] == 0.75  # without the image: the text model alone
    assert record["trainable_parameters"] == 10 and record["kind"] == "ensemble" and record["inputs"] == ["image",
                                                                                                         "text"]


def test_the_legend_covers_no_bar() -> None:
    rows = [{"variant": f"variant {i}", "kind": "single" if i < 2 else "ensemble" if i == 2 else "fused",
             "inputs": ["image", "text"], "accuracy": [1.0, 0.99], "macro_f1": [1.0, 0.98]} for i in range(6)]
    fig = results_figure(rows, "accuracy")
    renderer = fig.canvas.get_renderer()
    fig.canvas.draw()
    [ax] = fig.axes
    legend = ax.get_legend().get_window_extent(renderer)
    bars = [patch.get_window_extent(renderer) for patch in ax.patches]
    assert len(bars) == 12 and len(ax.get_legend().get_texts()) == 4
    assert not any(legend.overlaps(bar) for bar in bars)
