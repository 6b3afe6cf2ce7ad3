"""Classification metrics (scikit-learn): accuracy, macro-F1, per-class report, confusion matrix."""

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


def per_class_report(y_true: np.ndarray, y_pred: np.ndarray, names: Sequence[str]) -> dict[str, Any]:
    """A row per class (classes without rows show support 0); the macro average is over occurring classes,
    as in :func:`summary_metrics`."""
    from sklearn.metrics import classification_report

    report = classification_report(y_true, y_pred, labels=list(range(len(names))), target_names=list(names),
                                   output_dict=True, zero_division=0)
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
