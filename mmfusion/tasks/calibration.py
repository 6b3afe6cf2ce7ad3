"""Does a 0.9 mean 90 %? Calibration measures of scores against labels, and temperature scaling.

Every task is measured on the probabilities a user reads: multiclass on the top label (its probability against
whether it is right), binary on the positive label's probability, multilabel on every (row, label) pair. ECE
bins them in equal-width bins, adaptive ECE in bins of equal counts; both weigh each bin's gap between mean
probability and observed frequency by its share of the pairs. The Brier score is the mean squared distance of
the scores from the labels (multiclass: summed over classes, per row), the log loss their mean negative
log-likelihood.

Temperature scaling (Guo et al., 2017) divides the logits by a temperature T > 0 fitted on validation rows to
minimise their loss: one T for multiclass runs (softmax, or a sigmoid per class for ``bce``: the argmax, so
accuracy, never changes), one per label for multilabel and binary runs (each label's order is kept, so
thresholds tuned afterwards decide the same rows).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

#: the number of bins of ECE and of the reliability diagram
BINS = 15
#: the temperatures a fit may reach: beyond them the validation rows say more about themselves than the model
LOWEST, HIGHEST = 0.05, 20.0


@dataclass(frozen=True)
class ReliabilityBins:
    """Each non-empty bin's mean probability, observed frequency and number of pairs, lowest first."""

    confidence: np.ndarray
    frequency: np.ndarray
    counts: np.ndarray
    #: what the probabilities are: "top label" (multiclass), "positive label" (binary), "every label"
    of: str


def _pairs(task: str, labels: np.ndarray, probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
    """(probability, 0/1 outcome) pairs the measures bin, and what the probability is of."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    labels = np.asarray(labels)
    if task == "multiclass":
        top = probabilities.argmax(axis=1) if len(probabilities) else np.zeros(0, dtype=int)
        confidence = probabilities[np.arange(len(top)), top] if len(top) else np.zeros(0)
        return confidence, (top == labels).astype(float), "top label"
    if task == "binary":
        return probabilities[:, 1] if len(probabilities) else np.zeros(0), (labels == 1).astype(float), \
            "positive label"
    return probabilities.ravel(), labels.astype(float).ravel(), "every label"


def reliability(task: str, labels: np.ndarray, probabilities: np.ndarray, *, bins: int = BINS,
                adaptive: bool = False) -> ReliabilityBins:
    """The reliability diagram's bins: equal-width on [0, 1], or (``adaptive``) equal counts."""
    p, y, of = _pairs(task, labels, probabilities)
    if adaptive:
        groups = [g for g in np.array_split(np.argsort(p, kind="stable"), min(bins, max(len(p), 1))) if len(g)]
    else:
        index = np.minimum((p * bins).astype(int), bins - 1)
        groups = [np.flatnonzero(index == b) for b in range(bins)]
        groups = [g for g in groups if len(g)]
    return ReliabilityBins(np.array([p[g].mean() for g in groups]), np.array([y[g].mean() for g in groups]),
                           np.array([len(g) for g in groups]), of)


def ece(task: str, labels: np.ndarray, probabilities: np.ndarray, *, bins: int = BINS,
        adaptive: bool = False) -> float:
    """Expected calibration error: the count-weighted mean gap between each bin's probability and frequency."""
    found = reliability(task, labels, probabilities, bins=bins, adaptive=adaptive)
    total = found.counts.sum()
    if not total:
        return float("nan")
    return float((np.abs(found.confidence - found.frequency) * found.counts).sum() / total)


def brier(task: str, labels: np.ndarray, probabilities: np.ndarray) -> float:
    """Mean squared error of the scores: per row summed over classes (multiclass), per label (the others)."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if not len(probabilities):
        return float("nan")
    if task == "multiclass":
        onehot = np.eye(probabilities.shape[1])[np.asarray(labels, dtype=int)]
        return float(((probabilities - onehot) ** 2).sum(axis=1).mean())
    p, y, _ = _pairs(task, labels, probabilities)
    return float(((p - y) ** 2).mean())


def log_loss(task: str, labels: np.ndarray, probabilities: np.ndarray) -> float:
    """Mean negative log-likelihood of the labels (what temperature scaling minimises on validation rows):
    of each row's class (multiclass), else per label."""
    probabilities = np.clip(np.asarray(probabilities, dtype=np.float64), 1e-12, 1.0)
    if not len(probabilities):
        return float("nan")
    if task == "multiclass":
        return float(-np.log(probabilities[np.arange(len(probabilities)), np.asarray(labels, dtype=int)]).mean())
    p, y, _ = _pairs(task, labels, probabilities)
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())


def calibration_metrics(task: str, labels: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    """ECE, adaptive ECE, the Brier score and the log loss (lower is better for each)."""
    return {"ece": round(ece(task, labels, probabilities), 6),
            "adaptive_ece": round(ece(task, labels, probabilities, adaptive=True), 6),
            "brier": round(brier(task, labels, probabilities), 6),
            "log_loss": round(log_loss(task, labels, probabilities), 6)}


def temperature_keys(task: str, labels: Sequence[str]) -> list[str]:
    """What calibration.json names each temperature by: "all classes" (multiclass), the positive label (binary),
    every label (multilabel)."""
    if shared_temperature(task):
        return ["all classes"]
    return [labels[1]] if task == "binary" else list(labels)


def shared_temperature(task: str) -> bool:
    """Whether one temperature serves every output (multiclass: one per class could reorder the classes)."""
    return task == "multiclass"


def fit_temperature(logits: np.ndarray, labels: np.ndarray, *, task: str, softmax: bool) -> list[float]:
    """Temperatures minimising the validation loss of ``logits / T``: one for multiclass runs (softmax or sigmoid
    scores), one per output column for multilabel and binary runs. Where every validation row is already right
    at any temperature (softmax: every row's top class; sigmoid: every logit on the side of 0 its label says),
    the loss falls without bound as T shrinks: nothing can be fitted, T stays 1 (:func:`separated` says where)."""
    import torch

    x = torch.as_tensor(np.asarray(logits), dtype=torch.float64)
    unfit = separated(logits, labels, task=task, softmax=softmax)
    if softmax:
        y = torch.as_tensor(np.asarray(labels), dtype=torch.long)
        return [1.0] if unfit[0] else [_fit(lambda t: torch.nn.functional.cross_entropy(x / t, y), 1)[0]]
    targets = _sigmoid_targets(task, labels, x.shape[1])

    def loss(t: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.binary_cross_entropy_with_logits(x / t, targets)

    if shared_temperature(task):
        return [1.0] if unfit[0] else _fit(loss, 1)
    return [1.0 if skip else t for t, skip in zip(_fit(loss, x.shape[1]), unfit)]


def separated(logits: np.ndarray, labels: np.ndarray, *, task: str, softmax: bool) -> list[bool]:
    """Per temperature, whether every validation row is right at any temperature, so none can be fitted:
    softmax, every top class right; sigmoid, every logit on its label's side of 0 (a temperature moves no logit
    across 0)."""
    logits = np.asarray(logits, dtype=np.float64)
    if softmax:
        return [bool(len(logits)) and bool((logits.argmax(axis=1) == np.asarray(labels)).all())]
    targets = _sigmoid_targets(task, labels, logits.shape[1]).numpy().astype(bool)
    right = np.where(targets, logits > 0, logits < 0)
    return [bool(right.all())] if shared_temperature(task) else [bool(right[:, k].all()) for k in range(right.shape[1])]


def _sigmoid_targets(task: str, labels: np.ndarray, width: int) -> torch.Tensor:
    import torch

    labels = np.asarray(labels)
    if task == "multilabel":
        return torch.as_tensor(labels, dtype=torch.float64)
    if task == "binary":
        return torch.as_tensor(labels == 1, dtype=torch.float64).reshape(-1, 1)
    return torch.as_tensor(np.eye(width)[labels.astype(int)], dtype=torch.float64)  # multiclass trained with bce


def _fit(loss: Callable[[torch.Tensor], torch.Tensor], count: int) -> list[float]:
    """Minimise ``loss(T)`` over log T (T bounded to [LOWEST, HIGHEST]) with L-BFGS, from T = 1."""
    import torch

    log_t = torch.zeros(count, dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.LBFGS([log_t], lr=0.5, max_iter=200, line_search_fn="strong_wolfe")
    low, high = np.log(LOWEST), np.log(HIGHEST)

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        value = loss(log_t.clamp(low, high).exp())
        value.backward()
        return value

    optimiser.step(closure)
    return [float(t) for t in log_t.detach().clamp(low, high).exp()]


def scaled(logits: torch.Tensor, temperatures: Sequence[float]) -> torch.Tensor:
    """``logits / T`` (one T for every column, or one per column)."""
    import torch

    t = torch.as_tensor(list(temperatures), dtype=logits.dtype, device=logits.device)
    return logits / (t if len(temperatures) > 1 else t[0])
