"""Reliance on each input: the rows' Shapley values (:mod:`mmfusion.inference.attribution`) summed up.

Each row is explained at the output it was decided by: multiclass at its predicted class, binary at its one
logit, multilabel at every label (each (row, label) pair counts). An input's share is the sum of its absolute
contributions over the rows against that of every input, so shares add up to 1 and a row the model was unsure
about weighs as little as its contributions; its mean is the signed mean contribution towards each row's
decision (positive: it pushed the row towards what it was decided as; binary and multilabel logits count
against the label where the label was not chosen). Per class: the rows predicted as that class (multilabel: per
label).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..tasks.decisions import decide
from .attribution import Attribution

#: what the explained value is, per how the scores read the logits
EXPLAINED = {"softmax": "the predicted class's logit less the mean logit of the row",
             "sigmoid": "the logit (log-odds) of each output"}


def _shares(values: Mapping[str, np.ndarray]) -> tuple[dict[str, float], dict[str, float]]:
    total = sum(float(np.abs(v).sum()) for v in values.values())
    share = {m: round(float(np.abs(v).sum()) / total, 4) if total else 0.0 for m, v in values.items()}
    mean = {m: round(float(v.mean()), 4) if v.size else 0.0 for m, v in values.items()}
    return share, mean


def decided_outputs(task: str, probabilities: np.ndarray, thresholds: Any = None) -> np.ndarray:
    """The output column each row is explained at: the predicted class (multiclass), 0 (binary's one logit)."""
    if task == "binary":
        return np.zeros(len(probabilities), dtype=int)
    return np.asarray(decide(task, probabilities, thresholds), dtype=int)


def reliance(attribution: Attribution, task: str, probabilities: np.ndarray, labels: Sequence[str],
             thresholds: Any = None, softmax: bool = True) -> dict[str, Any]:
    """The overall and per-class (multilabel: per-label) reliance on each input, as report.json holds it."""
    inputs = sorted(attribution.contributions)
    rows = len(probabilities)
    predicted = decide(task, probabilities, thresholds)
    if task == "multilabel":  # every (row, label) pair, signed towards the decision made for that label
        towards = np.where(np.asarray(predicted) == 1, 1.0, -1.0)
        at = {m: attribution.contributions[m] * towards for m in inputs}
        groups = [(name, np.arange(rows), k) for k, name in enumerate(labels)]
    else:
        decided = decided_outputs(task, probabilities, thresholds)
        towards = np.where(predicted == 1, 1.0, -1.0) if task == "binary" else 1.0  # binary: the positive's logit
        at = {m: attribution.contributions[m][np.arange(rows), decided] * towards for m in inputs}
        groups = [(name, np.flatnonzero(predicted == k), None) for k, name in enumerate(labels)]
    share, mean = _shares(at)
    per_class = []
    for name, members, column in groups:
        picked = {m: (v[members, column] if column is not None else v[members]) for m, v in at.items()}
        s, mu = _shares(picked)
        per_class.append({"class": name, "rows": int(len(members)), "share": s, "mean": mu})
    return {"inputs": inputs, "rows": rows, "share": share, "mean": mean, "per_class": per_class,
            "exact": attribution.exact, "explained": EXPLAINED["softmax" if softmax else "sigmoid"]}


def row_explanation(attribution: Attribution, row: int, column: int, inputs: Sequence[str] | None = None
                    ) -> dict[str, Any]:
    """One row's explanation at output ``column``: the all-absent baseline, each input's contribution and the
    explained value they add up to."""
    names = list(inputs or sorted(attribution.contributions))
    contributions = {m: float(attribution.contributions[m][row, column]) for m in names}
    baseline = float(attribution.baseline[row, column])
    return {"baseline": baseline, "contributions": contributions, "value": baseline + sum(contributions.values())}
