"""Scores → what the model predicts: the one decision rule per task, used wherever predictions are made.

Multiclass: the argmax. Binary: the positive label (class 1) where its score reaches the run's one
threshold. Multilabel: every label whose score reaches its own threshold. Without thresholds (during
training, before they are tuned) every threshold is :data:`~mmfusion.tasks.thresholds.DEFAULT`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .thresholds import DEFAULT


def decide(task: str, scores: np.ndarray, thresholds: Sequence[float] | None = None) -> np.ndarray:
    """Class ids ``[N]`` (multiclass, binary) or multi-hot rows ``[N, L]`` (multilabel) from scores ``[N, L]``."""
    scores = np.asarray(scores)
    if task == "multiclass":
        return scores.argmax(axis=1)
    count = 1 if task == "binary" else scores.shape[1]
    cut = np.asarray(thresholds if thresholds is not None else [DEFAULT] * count, dtype=float)
    if task == "binary":
        return (scores[:, 1] >= cut[0]).astype(np.int64)
    return (scores >= cut[None, :]).astype(np.int64)


def ranked(scores: np.ndarray) -> np.ndarray:
    """Label ids of each row from the highest score down, tied labels in label order (so the first is the argmax
    :func:`decide` takes)."""
    return np.argsort(-np.asarray(scores), axis=-1, kind="stable")
