"""Task metrics are scikit-learn's, from weighted counts: for every task and metric, on the rows and on
bootstrap resamples; macro-F1 averages over the classes that occur; the per-class report lists every class."""

from __future__ import annotations

import numpy as np
import pytest

from mmfusion.tasks.decisions import decide
from mmfusion.tasks.definitions import METRICS
from mmfusion.tasks.metrics import confusion, per_class_report, task_metrics, weighted_metric


def _sklearn(task: str, y: np.ndarray, scores: np.ndarray, thresholds: list[float] | None) -> dict[str, float]:
    """The reference: scikit-learn on the resampled rows, with the rules the module documents."""
    from sklearn.metrics import accuracy_score, average_precision_score, f1_score, roc_auc_score

    y_hat = decide(task, scores, thresholds)
    if task == "multiclass":
        occurring = np.union1d(y, y_hat)
        return {"accuracy": accuracy_score(y, y_hat),
                "macro_f1": f1_score(y, y_hat, labels=occurring, average="macro", zero_division=0)}
    if task == "binary":
        return {"auroc": roc_auc_score(y, scores[:, 1]) if len(np.unique(y)) == 2 else np.nan,
                "accuracy": accuracy_score(y, y_hat), "f1": f1_score(y, y_hat, zero_division=0)}
    occurring = [i for i in range(y.shape[1]) if y[:, i].any() or y_hat[:, i].any()]
    positives = [i for i in range(y.shape[1]) if y[:, i].any()]
    return {"micro_f1": f1_score(y, y_hat, average="micro", zero_division=0),
            "macro_f1": f1_score(y, y_hat, labels=occurring, average="macro", zero_division=0),
            "weighted_f1": f1_score(y, y_hat, average="weighted", zero_division=0),
            "samples_f1": f1_score(y, y_hat, average="samples", zero_division=1),
            "map": np.mean([average_precision_score(y[:, i], scores[:, i]) for i in positives]) if positives
            else np.nan,
            "subset_accuracy": accuracy_score(y, y_hat)}


def _data(task: str, rng: np.random.Generator, n: int = 60) -> tuple[np.ndarray, np.ndarray, list[float] | None]:
    if task == "multiclass":
        labels = rng.integers(0, 4, n)
        scores = rng.dirichlet(np.ones(4), n)
        scores[labels == 0, 0] += 0.5  # a model better than chance, with some classes never predicted
        return labels, scores / scores.sum(1, keepdims=True), None
    if task == "binary":
        labels = rng.integers(0, 2, n)
        positive = np.round(np.clip(0.3 * labels + rng.random(n) * 0.7, 0, 1), 1)  # rounded: tied scores
        return labels, np.stack([1 - positive, positive], axis=1), [0.45]
    labels = (rng.random((n, 3)) < [0.5, 0.2, 0.05]).astype(int)
    scores = np.round(np.clip(0.4 * labels + rng.random((n, 3)) * 0.6, 0, 1), 1)
    return labels, scores, [0.5, 0.4, 0.6]


@pytest.mark.parametrize("task", list(METRICS))
def test_metrics_and_bootstrap_weights_give_scikit_learns_values_on_the_resampled_rows(task: str) -> None:
    rng = np.random.default_rng(3)
    labels, scores, thresholds = _data(task, rng)
    draws = rng.integers(0, len(labels), size=(12, len(labels)))
    draws[0] = np.nonzero(labels != 1 if task != "multilabel" else labels[:, 2] == 0)[0][0]  # one class / no positive
    weights = np.stack([np.bincount(d, minlength=len(labels)) for d in draws])
    expected = [_sklearn(task, labels[d], scores[d], thresholds) for d in draws]
    assert list(task_metrics(task, labels, scores, thresholds)) == list(METRICS[task])
    for metric in METRICS[task]:
        fast = weighted_metric(task, metric, labels, scores, thresholds, weights)
        np.testing.assert_allclose(fast, [e[metric] for e in expected], atol=1e-12, err_msg=metric)
        assert task_metrics(task, labels[draws[1]], scores[draws[1]], thresholds)[metric] == pytest.approx(
            expected[1][metric])


def test_a_class_absent_from_the_evaluated_rows_does_not_count_as_zero() -> None:
    y = np.array([0, 0, 1, 1])
    assert task_metrics("multiclass", y, np.eye(3)[y]) == {"accuracy": 1.0, "macro_f1": 1.0}  # perfect on two
    report = per_class_report(y, y, ["a", "b", "c"])
    assert report["c"]["support"] == 0
    assert report["macro avg"]["f1-score"] == 1.0
    assert confusion(y, y, 3).shape == (3, 3)


def test_a_wrongly_predicted_absent_class_still_counts() -> None:
    y_true, y_pred = np.array([0, 0, 1, 1]), np.array([0, 2, 1, 1])
    metrics = task_metrics("multiclass", y_true, np.eye(3)[y_pred])
    assert metrics["accuracy"] == 0.75
    # F1: class 0 = 2/3, class 1 = 1, class 2 (predicted once, never true) = 0
    assert metrics["macro_f1"] == pytest.approx((2 / 3 + 1 + 0) / 3)
    assert per_class_report(y_true, y_pred, ["a", "b", "c"])["macro avg"]["f1-score"] == pytest.approx(
        metrics["macro_f1"])


def test_no_rows_gives_nan() -> None:
    for task in METRICS:
        scores = np.zeros((0, 2))
        labels = np.zeros((0, 2) if task == "multilabel" else 0, dtype=int)
        assert all(np.isnan(v) for v in task_metrics(task, labels, scores).values())


def test_multilabel_metrics_at_the_thresholds() -> None:
    y = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 0]])
    scores = np.array([[0.9, 0.2, 0.1], [0.4, 0.7, 0.2], [0.6, 0.3, 0.1], [0.2, 0.1, 0.3]])
    metrics = task_metrics("multilabel", y, scores, [0.5, 0.25, 0.5])
    y_hat = decide("multilabel", scores, [0.5, 0.25, 0.5])
    assert y_hat.tolist() == [[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 0]]
    assert metrics["micro_f1"] == metrics["samples_f1"] == metrics["subset_accuracy"] == 1.0
    assert metrics["macro_f1"] == 1.0  # the third label never occurs: it does not count as 0
    assert metrics["map"] == 1.0  # every positive ranked above every negative, per label with positives
    at_half = task_metrics("multilabel", y, scores)
    assert at_half["micro_f1"] == pytest.approx(_sklearn("multilabel", y, scores, None)["micro_f1"])
    assert at_half["subset_accuracy"] == 0.75
    report = per_class_report(y, y_hat, ["a", "b", "c"])
    assert report["b"]["support"] == 2 and report["c"]["support"] == 0


def test_binary_metrics_are_auroc_accuracy_and_f1_at_the_threshold() -> None:
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
