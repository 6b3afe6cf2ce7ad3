"""Metrics: macro-F1 averages over the classes that occur; the per-class report still lists every class."""

from __future__ import annotations

import numpy as np
import pytest

from mmfusion.evaluation.metrics import confusion, per_class_report, summary_metrics


def test_a_class_absent_from_the_evaluated_rows_does_not_count_as_zero() -> None:
    y = np.array([0, 0, 1, 1])
    metrics = summary_metrics(y, y, num_classes=3)  # perfect on the two classes present
    assert metrics == {"accuracy": 1.0, "macro_f1": 1.0}
    report = per_class_report(y, y, ["a", "b", "c"])
    assert report["c"]["support"] == 0
    assert report["macro avg"]["f1-score"] == 1.0
    assert confusion(y, y, 3).shape == (3, 3)


def test_a_wrongly_predicted_absent_class_still_counts() -> None:
    y_true, y_pred = np.array([0, 0, 1, 1]), np.array([0, 2, 1, 1])
    metrics = summary_metrics(y_true, y_pred, num_classes=3)
    assert metrics["accuracy"] == 0.75
    # F1: class 0 = 2/3, class 1 = 1, class 2 (predicted once, never true) = 0
    assert metrics["macro_f1"] == pytest.approx((2 / 3 + 1 + 0) / 3)
    assert per_class_report(y_true, y_pred, ["a", "b", "c"])["macro avg"]["f1-score"] == pytest.approx(
        metrics["macro_f1"])


def test_no_rows_gives_nan() -> None:
    metrics = summary_metrics(np.array([], dtype=int), np.array([], dtype=int), num_classes=2)
    assert np.isnan(metrics["accuracy"]) and np.isnan(metrics["macro_f1"])
