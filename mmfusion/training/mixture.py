"""``train.aux_unimodal.inference: mixture``: the weights of the fused and the unimodal logits, tuned on the
validation predictions of every epoch.

Every weighting on a grid (step 0.1, weights summing to 1) is scored with ``train.monitor``; the best one wins,
and on ties the one with the most weight on the fused logits. The epoch's validation metrics are then the
mixture's, so the best epoch is the one whose mixture predicts best, and its weights file holds that mixture.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping

import numpy as np
import torch

from ..evaluation.metrics import task_metrics
from ..model.unimodal import mix_logits

#: the grid's step: every weight is a multiple of it
STEP = 0.1


def simplex(parts: int, step: float = STEP) -> list[tuple[float, ...]]:
    """Every weighting of ``parts`` logits on the grid, summing to 1, the first weight largest first."""
    n = round(1 / step)
    grid = [c for c in itertools.product(range(n, -1, -1), repeat=parts) if sum(c) == n]
    return [tuple(k / n for k in c) for c in grid]


def tune_mixture(fused: torch.Tensor, aux: Mapping[str, torch.Tensor], present: Mapping[str, torch.Tensor],
                 labels: np.ndarray, *, task: str, monitor: str, scores: Callable[[torch.Tensor], torch.Tensor],
                 loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> list[float]:
    """The grid weighting (fused first, then ``aux`` in sorted order) with the best ``monitor`` (``val_<metric>``,
    maximised, or ``val_loss``, minimised); fused only when no weighting gives a defined value."""
    modalities = sorted(aux)
    target = torch.from_numpy(np.asarray(labels))
    metric = monitor.removeprefix("val_")
    best: tuple[list[float], float] | None = None
    for weights in simplex(1 + len(modalities)):
        mixed = mix_logits(torch.tensor(weights), fused, aux, present, modalities)
        if metric == "loss":
            with torch.inference_mode():
                value = -float(loss(mixed, target))
        elif task == "multiclass" and metric in ("accuracy", "macro_f1"):
            value = _multiclass(np.asarray(labels), scores(mixed).numpy().argmax(axis=1), mixed.shape[1])[metric]
        else:
            value = task_metrics(task, labels, scores(mixed).numpy()).get(metric, float("nan"))
        if not np.isnan(value) and (best is None or value > best[1]):
            best = (list(weights), value)
    return best[0] if best is not None else [1.0] + [0.0] * len(modalities)


def _multiclass(y: np.ndarray, predicted: np.ndarray, classes: int) -> dict[str, float]:
    """Accuracy and macro-F1 as :func:`mmfusion.evaluation.metrics.summary_metrics` has them (macro-F1 over the
    classes that occur as truth or prediction), from one confusion count: the grid scores hundreds of weightings."""
    if len(y) == 0:
        return {"accuracy": float("nan"), "macro_f1": float("nan")}
    counts = np.bincount(y * classes + predicted, minlength=classes * classes).reshape(classes, classes)
    tp = np.diag(counts).astype(float)
    truth, guessed = counts.sum(axis=1), counts.sum(axis=0)
    occurring = (truth + guessed) > 0
    f1 = 2 * tp / np.maximum(truth + guessed, 1)
    return {"accuracy": float(tp.sum() / len(y)), "macro_f1": float(f1[occurring].mean())}
