"""``train.aux_unimodal.inference: mixture``: the weights of the fused and the unimodal logits, tuned on every
epoch's validation predictions: the grid weighting with the best ``train.monitor`` wins (on ties, the one with the
most weight on the fused logits), so the best epoch is the one whose mixture predicts best."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping

import numpy as np
import torch

from ..model.unimodal import mix_logits
from ..tasks.metrics import weighted_metric

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
    ones = np.ones(len(labels))
    best: tuple[list[float], float] | None = None
    for weights in simplex(1 + len(modalities)):
        mixed = mix_logits(torch.tensor(weights), fused, aux, present, modalities)
        if metric == "loss":
            with torch.inference_mode():
                value = -float(loss(mixed, target))
        else:  # one metric, at threshold 0.5 (thresholds are tuned after training)
            value = float(weighted_metric(task, metric, labels, scores(mixed).numpy(), None, ones)[0])
        if not np.isnan(value) and (best is None or value > best[1]):
            best = (list(weights), value)
    return best[0] if best is not None else [1.0] + [0.0] * len(modalities)

