"""What a run predicts: one class of many (multiclass), any set of labels (multilabel), or yes/no (binary).

The task decides how many outputs the model has (its scores: :mod:`.scores`, decisions: :mod:`.decisions`),
which loss it trains with by default, which metrics it reports and which one ranks models. Everything else asks
this module rather than testing the task name itself, so a task reads the same in training, evaluation,
prediction, sweeps and export.
"""

from __future__ import annotations

from typing import Literal

Task = Literal["multiclass", "multilabel", "binary"]  # mmfusion.interfaces.loss.TASKS

#: the metrics each task reports (evaluate, the test report, sweeps), the headline first where it ranks
METRICS: dict[str, tuple[str, ...]] = {
    "multiclass": ("accuracy", "macro_f1"),
    "multilabel": ("micro_f1", "macro_f1", "weighted_f1", "samples_f1", "map", "subset_accuracy"),
    "binary": ("auroc", "accuracy", "f1"),
}
#: the metric that ranks models of a task by default (sweeps' ``rank_by``, robustness tables)
HEADLINE: dict[str, str] = {"multiclass": "accuracy", "multilabel": "micro_f1", "binary": "auroc"}
#: ``train.monitor`` when the spec leaves it out
DEFAULT_MONITOR: dict[str, str] = {"multiclass": "val_macro_f1", "multilabel": "val_micro_f1",
                                   "binary": "val_auroc"}
#: ``train.loss`` when the spec leaves it out
DEFAULT_LOSS: dict[str, str] = {"multiclass": "cross_entropy", "multilabel": "bce", "binary": "bce"}
#: how each metric reads in tables and messages
METRIC_TITLES: dict[str, str] = {
    "accuracy": "accuracy", "macro_f1": "macro-F1", "micro_f1": "micro-F1", "weighted_f1": "weighted-F1",
    "samples_f1": "samples-F1", "map": "mAP", "subset_accuracy": "subset accuracy", "auroc": "AUROC", "f1": "F1",
}
#: every metric any task reports, for sweeps' ``rank_by``
ALL_METRICS: tuple[str, ...] = tuple(dict.fromkeys(m for metrics in METRICS.values() for m in metrics))
#: every validation metric and the loss, for ``train.monitor`` (which fit a task: :func:`monitors`)
ALL_MONITORS: tuple[str, ...] = (*(f"val_{m}" for m in ALL_METRICS), "val_loss")


def metric_title(name: str) -> str:
    return METRIC_TITLES.get(name, name)


def monitors(task: str) -> tuple[str, ...]:
    """The ``train.monitor`` values that make sense for ``task``: its validation metrics and the loss."""
    return (*(f"val_{m}" for m in METRICS[task]), "val_loss")


def num_outputs(task: str, num_labels: int) -> int:
    """Model outputs: one logit for binary, one per label otherwise."""
    return 1 if task == "binary" else num_labels


def uses_thresholds(task: str) -> bool:
    """Whether predictions compare scores with thresholds (tuned on validation) instead of taking the argmax."""
    return task in ("multilabel", "binary")
