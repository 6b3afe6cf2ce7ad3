"""Weighted metrics equal scikit-learn's metrics on the resampled rows, for every task and metric."""

from __future__ import annotations

import numpy as np
import pytest

from mmfusion.evaluation.metrics import task_metrics
from mmfusion.evaluation.weighted_metrics import weighted_metric
from mmfusion.tasks.definitions import METRICS


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
def test_bootstrap_weights_give_the_resampled_rows_metrics(task: str) -> None:
    rng = np.random.default_rng(3)
    labels, scores, thresholds = _data(task, rng)
    draws = rng.integers(0, len(labels), size=(12, len(labels)))
    draws[0] = np.nonzero(labels != 1 if task != "multilabel" else labels[:, 2] == 0)[0][0]  # one class / no positive
    weights = np.stack([np.bincount(d, minlength=len(labels)) for d in draws])
    for metric in METRICS[task]:
        fast = weighted_metric(task, metric, labels, scores, thresholds, weights)
        slow = [task_metrics(task, labels[d], scores[d], thresholds)[metric] for d in draws]
        np.testing.assert_allclose(fast, slow, atol=1e-12, err_msg=metric)
        unweighted = weighted_metric(task, metric, labels, scores, thresholds, np.ones(len(labels)))
        assert unweighted[0] == pytest.approx(task_metrics(task, labels, scores, thresholds)[metric])
