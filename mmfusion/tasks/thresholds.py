"""Decision thresholds for sigmoid outputs, tuned on validation data.

Binary: the threshold on the positive label's probability that maximises accuracy (Hateful Memes reports
AUROC and accuracy). Multilabel: per label, the threshold that maximises that label's F1; a label without a
positive validation row keeps 0.5. Candidates lie midway between consecutive distinct scores, so a
threshold never sits exactly on a validation score; among equally good ones the one nearest 0.5 wins.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

DEFAULT = 0.5
#: what each task's thresholds maximise on the validation data
OBJECTIVE = {"binary": "accuracy", "multilabel": "f1"}


def _candidates(scores: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Thresholds that separate distinct scores, with the true and false positives each one gives."""
    order = np.argsort(-scores, kind="stable")
    s, y = scores[order], truth[order].astype(float)
    tp, fp = np.cumsum(y), np.cumsum(1 - y)
    last = np.r_[s[1:] < s[:-1], True]  # a cut after position i only where the next score is lower
    below = np.r_[s[1:], s[-1] - 1.0][last]
    thresholds = np.r_[(s[last] + below) / 2, (s[0] + 1.0) / 2 if s[0] < 1.0 else 1.0]
    thresholds = np.clip(thresholds, 0.0, 1.0)
    return thresholds, np.r_[tp[last], 0.0], np.r_[fp[last], 0.0]


def _best(thresholds: np.ndarray, quality: np.ndarray) -> float:
    best = np.flatnonzero(np.isclose(quality, quality.max()))
    return float(thresholds[best[np.argmin(np.abs(thresholds[best] - DEFAULT))]])


def tune_binary(truth: np.ndarray, positive_scores: np.ndarray) -> float:
    """The threshold on ``positive_scores`` with the highest accuracy against 0/1 ``truth``."""
    truth, scores = np.asarray(truth).astype(float), np.asarray(positive_scores, dtype=float)
    if len(truth) == 0:
        return DEFAULT
    thresholds, tp, fp = _candidates(scores, truth)
    negatives = len(truth) - truth.sum()
    return _best(thresholds, (tp + negatives - fp) / len(truth))


def tune_multilabel(truth: np.ndarray, scores: np.ndarray) -> list[float]:
    """Per label, the threshold with the highest F1 (0.5 for labels without a positive row)."""
    truth, scores = np.asarray(truth, dtype=float), np.asarray(scores, dtype=float)

    def label(i: int) -> float:
        positives = truth[:, i].sum()
        if positives == 0:  # also when there are no rows
            return DEFAULT
        thresholds, tp, fp = _candidates(scores[:, i], truth[:, i])
        return _best(thresholds, 2 * tp / (tp + fp + positives))

    return [label(i) for i in range(scores.shape[1])]


def tune(task: str, truth: np.ndarray, scores: np.ndarray) -> list[float]:
    """Thresholds for ``task``'s scores (binary: one, for the positive label; multilabel: one per label)."""
    if task == "binary":
        return [tune_binary(truth, np.asarray(scores)[:, 1])]
    return tune_multilabel(truth, scores)


def as_mapping(task: str, names: Sequence[str], thresholds: Sequence[float]) -> dict[str, float]:
    """Thresholds keyed by label: binary by its positive label (the second name), multilabel by every label."""
    keys = [names[1]] if task == "binary" else list(names)
    return {k: round(float(t), 6) for k, t in zip(keys, thresholds)}
