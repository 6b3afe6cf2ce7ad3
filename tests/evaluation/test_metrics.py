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


def test_multilabel_metrics_follow_scikit_learn_at_the_thresholds() -> None:
    from sklearn.metrics import f1_score

    from mmfusion.evaluation.metrics import predicted, task_metrics

    y = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 0]])
    scores = np.array([[0.9, 0.2, 0.1], [0.4, 0.7, 0.2], [0.6, 0.3, 0.1], [0.2, 0.1, 0.3]])
    metrics = task_metrics("multilabel", y, scores, [0.5, 0.25, 0.5])
    y_hat = predicted("multilabel", scores, [0.5, 0.25, 0.5])
    assert y_hat.tolist() == [[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 0]]
    assert metrics["micro_f1"] == metrics["samples_f1"] == metrics["subset_accuracy"] == 1.0
    assert metrics["macro_f1"] == 1.0  # the third label never occurs: it does not count as 0
    assert metrics["map"] == 1.0  # every positive ranked above every negative, per label with positives
    at_half = task_metrics("multilabel", y, scores)
    assert at_half["micro_f1"] == pytest.approx(f1_score(y, predicted("multilabel", scores), average="micro"))
    assert at_half["subset_accuracy"] == 0.75
    report = per_class_report(y, y_hat, ["a", "b", "c"])
    assert report["b"]["support"] == 2 and report["c"]["support"] == 0


def test_binary_metrics_are_auroc_accuracy_and_f1_at_the_threshold() -> None:
    from mmfusion.evaluation.metrics import task_metrics

    y = np.array([0, 0, 1, 1])
    scores = np.array([[0.9, 0.1], [0.6, 0.4], [0.65, 0.35], [0.2, 0.8]])
    assert task_metrics("binary", y, scores) == {"auroc": 0.75, "accuracy": 0.75, "f1": pytest.approx(2 / 3)}
    assert task_metrics("binary", y, scores, [0.3])["accuracy"] == 0.75
    assert np.isnan(task_metrics("binary", np.array([1, 1]), scores[:2])["auroc"])  # one class: undefined


def test_thresholds_maximise_accuracy_or_each_labels_f1_and_sit_between_scores() -> None:
    from mmfusion.tasks.thresholds import tune, tune_binary, tune_multilabel

    threshold = tune_binary(np.array([0, 0, 1, 1]), np.array([0.1, 0.7, 0.8, 0.9]))
    assert 0.7 < threshold < 0.8
    assert tune("binary", np.array([0, 1]), np.array([[0.8, 0.2], [0.3, 0.7]])) == [pytest.approx(0.45)]
    truth = np.array([[1, 0], [1, 0], [0, 0], [0, 0]])
    scores = np.array([[0.3, 0.9], [0.25, 0.8], [0.1, 0.2], [0.05, 0.1]])
    first, second = tune_multilabel(truth, scores)
    assert 0.1 < first < 0.25  # both positives above it, both negatives below
    assert second == 0.5  # no positive row: the default
    perfect = tune_multilabel(np.array([[1], [0]]), np.array([[0.9], [0.1]]))
    assert perfect == [0.5]  # among equally good thresholds, the one nearest 0.5
