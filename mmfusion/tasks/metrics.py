"""The task's metrics (:data:`~mmfusion.tasks.definitions.METRICS`) of scores against labels, and per-class
reports and confusion matrices.

Multiclass: accuracy and macro-F1; multilabel: micro/macro/weighted/samples F1, mAP and subset accuracy;
binary: AUROC, accuracy and F1, all at the run's decisions (:func:`~mmfusion.tasks.decisions.decide`), as
scikit-learn defines them (the tests check), except that macro-F1 averages over the classes that occur as truth
or prediction: a class the evaluated rows never mention says nothing about the model. Undefined values (AUROC
with one class present, mAP without positives) are NaN.

Every metric is computed from per-sample weights, many weightings at once: a bootstrap resample is a
weighting of the test rows (how often each row was drawn), so the metric of ``B`` resamples is one matrix
product instead of ``B`` scikit-learn calls on copied arrays, and the plain metric is the all-ones weighting.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .decisions import decide
from .definitions import METRICS


def task_metrics(task: str, y_true: np.ndarray, scores: np.ndarray, thresholds: Sequence[float] | None = None
                 ) -> dict[str, float]:
    """The task's metrics of ``scores`` against labels, at ``thresholds`` (0.5 when None) for multilabel and
    binary; NaN for every metric of no rows."""
    y_true, scores = np.asarray(y_true), np.asarray(scores)
    if len(y_true) == 0:
        return {name: float("nan") for name in METRICS[task]}
    ones = np.ones(len(y_true))
    return {name: float(weighted_metric(task, name, y_true, scores, thresholds, ones)[0]) for name in METRICS[task]}


def weighted_metric(task: str, metric: str, labels: np.ndarray, scores: np.ndarray,
                    thresholds: Sequence[float] | None, weights: np.ndarray) -> np.ndarray:
    """``metric`` of scores ``[N, L]`` against ``labels`` (class ids ``[N]``, multilabel: multi-hot ``[N, L]``)
    under each row of ``weights`` (``[B, N]`` bootstrap counts; ``[N]`` is one weighting): ``[B]`` values."""
    weights = np.atleast_2d(np.asarray(weights, dtype=np.float64))
    labels, scores = np.asarray(labels), np.asarray(scores)
    y_pred = decide(task, scores, thresholds)
    if task == "multiclass":
        classes = scores.shape[1]
        return _from_counts(metric, weights, _one_hot(labels, classes), _one_hot(y_pred, classes))
    if task == "binary":
        truth = (labels == 1).astype(np.float64)
        if metric == "auroc":
            return _auroc(truth, scores[:, 1], weights)
        if metric == "accuracy":
            return _mean(weights, (labels == y_pred).astype(np.float64))
        if metric == "f1":
            return _f1(weights @ (truth * y_pred), weights @ truth + weights @ y_pred)
        raise KeyError(metric)
    truth, pred = labels.astype(np.float64), y_pred.astype(np.float64)
    if metric == "map":
        return _mean_average_precision(truth, scores, weights)
    return _from_counts(metric, weights, truth, pred)


def _one_hot(ids: np.ndarray, classes: int) -> np.ndarray:
    out = np.zeros((len(ids), classes))
    valid = (ids >= 0) & (ids < classes)
    out[np.nonzero(valid)[0], ids[valid]] = 1.0
    return out


def _mean(weights: np.ndarray, values: np.ndarray) -> np.ndarray:
    total = weights.sum(axis=1)
    return np.divide(weights @ values, total, out=np.full(len(weights), np.nan), where=total > 0)


def _f1(true_positives: np.ndarray, truth_plus_predicted: np.ndarray) -> np.ndarray:
    """2·TP / (|truth| + |predicted|), 0 where both are empty (scikit-learn's zero_division=0)."""
    return np.divide(2 * true_positives, truth_plus_predicted, out=np.zeros_like(true_positives),
                     where=truth_plus_predicted > 0)


def _from_counts(metric: str, weights: np.ndarray, truth: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Metrics that are sums over rows: per-class counts are weighted row sums of one-hot (multi-hot) rows."""
    if metric in ("accuracy", "subset_accuracy"):
        return _mean(weights, np.all(truth == pred, axis=1).astype(np.float64))
    if metric == "samples_f1":
        size = truth.sum(axis=1) + pred.sum(axis=1)
        rows = np.divide(2 * (truth * pred).sum(axis=1), size, out=np.ones(len(size)), where=size > 0)
        return _mean(weights, rows)
    tp, support, guessed = weights @ (truth * pred), weights @ truth, weights @ pred
    if metric == "micro_f1":
        return _f1(tp.sum(axis=1), support.sum(axis=1) + guessed.sum(axis=1))
    per_class = _f1(tp, support + guessed)
    if metric == "macro_f1":
        occurring = (support + guessed) > 0
        count = occurring.sum(axis=1)
        return np.divide((per_class * occurring).sum(axis=1), count, out=np.full(len(weights), np.nan),
                         where=count > 0)
    if metric == "weighted_f1":
        total = support.sum(axis=1)
        return np.divide((per_class * support).sum(axis=1), total, out=np.zeros(len(weights)), where=total > 0)
    raise KeyError(metric)


def _groups(scores: np.ndarray, descending: bool) -> tuple[np.ndarray, np.ndarray]:
    """The order that sorts ``scores`` and the last position of each run of equal scores in it."""
    order = np.argsort(-scores if descending else scores, kind="mergesort")
    ends = np.r_[np.nonzero(np.diff(scores[order]))[0], len(scores) - 1]
    return order, ends


def _auroc(truth: np.ndarray, positive: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Mann–Whitney: the weight of (positive, negative) pairs ranked right, ties counting half."""
    order, ends = _groups(positive, descending=False)
    ordered = weights[:, order]
    negatives = np.cumsum(ordered * (1 - truth[order]), axis=1)[:, ends]
    positives = np.cumsum(ordered * truth[order], axis=1)[:, ends]
    group_neg = np.diff(negatives, axis=1, prepend=0.0)
    group_pos = np.diff(positives, axis=1, prepend=0.0)
    pairs = (group_pos * (negatives - group_neg + 0.5 * group_neg)).sum(axis=1)
    total = positives[:, -1] * negatives[:, -1]
    return np.divide(pairs, total, out=np.full(len(weights), np.nan), where=total > 0)


def _average_precision(truth: np.ndarray, scores: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Σ (recall_k − recall_{k−1}) · precision_k over thresholds at each distinct score, highest first."""
    order, ends = _groups(scores, descending=True)
    ordered = weights[:, order]
    hits = np.cumsum(ordered * truth[order], axis=1)[:, ends]
    seen = np.cumsum(ordered, axis=1)[:, ends]
    precision = np.divide(hits, seen, out=np.zeros_like(hits), where=seen > 0)
    total = hits[:, -1:]
    recall = np.divide(hits, total, out=np.zeros_like(hits), where=total > 0)
    return (np.diff(recall, axis=1, prepend=0.0) * precision).sum(axis=1)


def _mean_average_precision(truth: np.ndarray, scores: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Mean AP over the labels with a positive row in each weighting (NaN where none has one)."""
    total, count = np.zeros(len(weights)), np.zeros(len(weights))
    for label in range(truth.shape[1]):
        has_positive = (weights @ truth[:, label]) > 0
        if not has_positive.any():
            continue
        total += np.where(has_positive, _average_precision(truth[:, label], scores[:, label], weights), 0.0)
        count += has_positive
    return np.divide(total, count, out=np.full(len(weights), np.nan), where=count > 0)


def per_class_report(y_true: np.ndarray, y_pred: np.ndarray, names: Sequence[str]) -> dict[str, Any]:
    """A row per class (classes without rows show support 0); the macro average is over occurring classes,
    as in :func:`task_metrics`. Multilabel: ``y_true`` and ``y_pred`` are multi-hot, one row per label."""
    from sklearn.metrics import classification_report

    report = classification_report(y_true, y_pred, labels=list(range(len(names))), target_names=list(names),
                                   output_dict=True, zero_division=0)
    if np.ndim(y_true) == 2:
        occurring = [names[i] for i in range(len(names)) if np.any(y_true[:, i]) or np.any(y_pred[:, i])]
    else:
        occurring = [names[int(c)] for c in np.union1d(y_true, y_pred) if 0 <= c < len(names)]
    if occurring and "macro avg" in report:
        for key in ("precision", "recall", "f1-score"):
            report["macro avg"][key] = float(np.mean([report[name][key] for name in occurring]))
    return report


def confusion(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    from sklearn.metrics import confusion_matrix

    return confusion_matrix(y_true, y_pred, labels=list(range(num_classes)))
