"""Classification metrics (scikit-learn) per task: accuracy and macro-F1 (multiclass); micro/macro/weighted/
samples F1, mAP and subset accuracy (multilabel); AUROC, accuracy and F1 (binary); per-class reports and
confusion matrices."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def summary_metrics(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> dict[str, float]:
    """Accuracy and macro-F1. Macro-F1 averages over the classes that occur (as truth or prediction): a class
    the evaluated rows never mention says nothing about the model and must not count as F1 = 0."""
    from sklearn.metrics import accuracy_score, f1_score

    if len(y_true) == 0:
        return {"accuracy": float("nan"), "macro_f1": float("nan")}
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=_occurring(y_true, y_pred, num_classes),
                                   average="macro", zero_division=0)),
    }


def predicted(task: str, scores: np.ndarray, thresholds: Sequence[float] | None = None) -> np.ndarray:
    """What the model predicts from its scores: class ids (multiclass: the argmax; binary: 1 where the positive
    score reaches its threshold) or multi-hot rows (multilabel: every label at or above its threshold)."""
    scores = np.asarray(scores)
    if task == "multiclass":
        return scores.argmax(axis=1)
    cut = np.asarray(thresholds if thresholds is not None else [0.5] * (1 if task == "binary" else scores.shape[1]),
                     dtype=float)
    if task == "binary":
        return (scores[:, 1] >= cut[0]).astype(np.int64)
    return (scores >= cut[None, :]).astype(np.int64)


def task_metrics(task: str, y_true: np.ndarray, scores: np.ndarray, thresholds: Sequence[float] | None = None
                 ) -> dict[str, float]:
    """The task's metrics (:data:`~mmfusion.tasks.definitions.METRICS`) of scores against labels, at ``thresholds`` (0.5 when
    None) for multilabel and binary. Undefined values (AUROC with one class present, mAP without positives) are
    NaN."""
    from ..tasks.definitions import METRICS

    y_true, scores = np.asarray(y_true), np.asarray(scores)
    if len(y_true) == 0:
        return {name: float("nan") for name in METRICS[task]}
    y_pred = predicted(task, scores, thresholds)
    if task == "multiclass":
        return summary_metrics(y_true, y_pred, scores.shape[1])
    if task == "binary":
        return _binary(y_true, scores[:, 1], y_pred)
    return _multilabel(y_true.astype(np.int64), scores, y_pred)


def _binary(y_true: np.ndarray, positive: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    both = len(np.unique(y_true)) == 2
    return {"auroc": float(roc_auc_score(y_true, positive)) if both else float("nan"),
            "accuracy": float(accuracy_score(y_true, y_pred)),
            "f1": float(f1_score(y_true, y_pred, pos_label=1, zero_division=0))}


def _multilabel(y_true: np.ndarray, scores: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Macro-F1 averages over labels that occur (as truth or prediction), as for multiclass; samples-F1 counts a
    row with no label that is predicted to have none as 1; mAP averages over labels with a positive row."""
    from sklearn.metrics import accuracy_score, average_precision_score, f1_score

    occurring = [i for i in range(y_true.shape[1]) if y_true[:, i].any() or y_pred[:, i].any()]
    with_positives = [i for i in range(y_true.shape[1]) if y_true[:, i].any()]
    f1 = {average: float(f1_score(y_true, y_pred, average=average, zero_division=0))
          for average in ("micro", "weighted")}
    return {
        "micro_f1": f1["micro"],
        "macro_f1": float(f1_score(y_true, y_pred, labels=occurring, average="macro", zero_division=0))
        if occurring else float("nan"),
        "weighted_f1": f1["weighted"],
        "samples_f1": float(f1_score(y_true, y_pred, average="samples", zero_division=1)),
        "map": float(np.mean([average_precision_score(y_true[:, i], scores[:, i]) for i in with_positives]))
        if with_positives else float("nan"),
        "subset_accuracy": float(accuracy_score(y_true, y_pred)),
    }


def per_class_report(y_true: np.ndarray, y_pred: np.ndarray, names: Sequence[str]) -> dict[str, Any]:
    """A row per class (classes without rows show support 0); the macro average is over occurring classes,
    as in :func:`summary_metrics`. Multilabel: ``y_true`` and ``y_pred`` are multi-hot, one row per label."""
    from sklearn.metrics import classification_report

    report = classification_report(y_true, y_pred, labels=list(range(len(names))), target_names=list(names),
                                   output_dict=True, zero_division=0)
    if np.ndim(y_true) == 2:
        occurring = [names[i] for i in range(len(names)) if np.any(y_true[:, i]) or np.any(y_pred[:, i])]
    else:
        occurring = [names[i] for i in _occurring(y_true, y_pred, len(names))]
    if occurring and "macro avg" in report:
        for key in ("precision", "recall", "f1-score"):
            report["macro avg"][key] = float(np.mean([report[name][key] for name in occurring]))
    return report


def _occurring(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> list[int]:
    return [int(c) for c in np.union1d(np.asarray(y_true), np.asarray(y_pred)) if 0 <= c < num_classes]


def confusion(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    from sklearn.metrics import confusion_matrix

    return confusion_matrix(y_true, y_pred, labels=list(range(num_classes)))
