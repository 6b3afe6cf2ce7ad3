"""Calibration measures on scores with known answers, and temperature scaling."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mmfusion.tasks.calibration import brier, calibration_metrics, ece, fit_temperature, reliability, scaled
from mmfusion.tasks.scores import scores_for


def _calibrated_multiclass(n: int = 20000, classes: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Logits whose softmax is the true class distribution: labels drawn from it."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 2, size=(n, classes))
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = np.array([rng.choice(classes, p=row) for row in p])
    return logits, labels


def _softmax(x: np.ndarray) -> np.ndarray:
    return torch.from_numpy(x).softmax(dim=1).numpy()


def test_ece_of_calibrated_scores_is_near_zero_and_of_overconfident_ones_is_not() -> None:
    logits, labels = _calibrated_multiclass()
    assert ece("multiclass", labels, _softmax(logits)) < 0.02
    assert ece("multiclass", labels, _softmax(logits), adaptive=True) < 0.02
    assert ece("multiclass", labels, _softmax(3 * logits)) > 0.1  # over-confident


def test_ece_and_brier_by_hand() -> None:
    # two rows at 0.9 right and wrong, one at 0.6 right: bins (0.9: freq 0.5), (0.6: freq 1)
    probabilities = np.array([[0.9, 0.1], [0.9, 0.1], [0.4, 0.6]])
    labels = np.array([0, 1, 1])
    assert ece("multiclass", labels, probabilities) == pytest.approx((2 * 0.4 + 0.4) / 3)
    assert brier("multiclass", labels, probabilities) == pytest.approx((0.02 + 1.62 + 0.32) / 3)
    bins = reliability("multiclass", labels, probabilities)
    assert bins.counts.tolist() == [1, 2] and bins.frequency.tolist() == [1.0, 0.5] and bins.of == "top label"
    # binary: the positive label's probability against the label; multilabel: every (row, label) pair
    assert brier("binary", np.array([1, 0]), np.array([[0.2, 0.8], [0.6, 0.4]])) == pytest.approx((0.04 + 0.16) / 2)
    assert brier("multilabel", np.array([[1, 0]]), np.array([[0.5, 0.5]])) == pytest.approx(0.25)
    assert reliability("multilabel", np.array([[1, 0]]), np.array([[0.5, 0.5]])).counts.sum() == 2


def test_adaptive_bins_hold_equal_counts() -> None:
    p = np.linspace(0.5, 1, 150)
    found = reliability("binary", np.ones(150, dtype=int), np.stack([1 - p, p], axis=1), adaptive=True)
    assert found.counts.tolist() == [10] * 15


def test_empty_rows_give_nan_not_an_error() -> None:
    metrics = calibration_metrics("multiclass", np.zeros(0, dtype=int), np.zeros((0, 3)))
    assert all(np.isnan(v) for v in metrics.values())


def test_temperature_recovers_the_overconfidence_and_keeps_the_argmax() -> None:
    logits, labels = _calibrated_multiclass()
    (t,) = fit_temperature(3 * logits, labels, task="multiclass", softmax=True)
    assert t == pytest.approx(3.0, rel=0.05)
    scores = scores_for("multiclass", temperature=[t])(torch.from_numpy(3 * logits)).numpy()
    assert ece("multiclass", labels, scores) < 0.02
    assert (scores.argmax(axis=1) == logits.argmax(axis=1)).all()


def test_sigmoid_temperatures_are_per_label_and_a_label_right_at_any_temperature_keeps_one() -> None:
    rng = np.random.default_rng(1)
    z = rng.normal(0, 2, size=(20000, 2))
    y = (rng.random(z.shape) < 1 / (1 + np.exp(-z))).astype(int)
    y[:, 1] = 0  # a label with no positive validation row, every logit below 0: right at any temperature
    t = fit_temperature(np.stack([0.5 * z[:, 0], -np.abs(z[:, 1])], axis=1), y, task="multilabel", softmax=False)
    assert t[0] == pytest.approx(0.5, rel=0.05) and t[1] == 1.0
    (binary_t,) = fit_temperature(4 * z[:, :1], y[:, 0], task="binary", softmax=False)
    assert binary_t == pytest.approx(4.0, rel=0.05)


def test_scaled_divides_by_one_or_per_column() -> None:
    x = torch.tensor([[2.0, 4.0]])
    assert scaled(x, [2.0]).tolist() == [[1.0, 2.0]]
    assert scaled(x, [1.0, 4.0]).tolist() == [[2.0, 1.0]]


def test_rows_separated_without_an_error_leave_the_temperature_at_one() -> None:
    logits = np.array([[3.0, 0.0], [0.0, 2.0], [1.0, 0.5]])
    assert fit_temperature(logits, np.array([0, 1, 0]), task="multiclass", softmax=True) == [1.0]
    assert fit_temperature(logits, np.array([0, 1, 1]), task="multiclass", softmax=True) != [1.0]
    # sigmoid: the first label's positives lie above its negatives, the second's do not
    two = np.array([[2.0, 1.0], [-1.0, -2.0], [0.5, 3.0]])
    t = fit_temperature(two, np.array([[1, 0], [0, 1], [1, 0]]), task="multilabel", softmax=False)
    assert t[0] == 1.0 and t[1] != 1.0
    # ranked right but not on the right side of 0: a temperature has a finite optimum there
    ranked = np.array([[2.0], [5.0], [0.5], [1.5]])
    assert fit_temperature(ranked, np.array([1, 1, 0, 0]), task="binary", softmax=False) != [1.0]
    # multiclass scored by sigmoids (loss bce): one shared temperature, so the argmax never changes
    logits = np.random.default_rng(2).normal(0, 3, size=(500, 3))
    labels = np.random.default_rng(3).integers(0, 3, 500)
    (shared,) = fit_temperature(logits, labels, task="multiclass", softmax=False)
    assert shared != 1.0
