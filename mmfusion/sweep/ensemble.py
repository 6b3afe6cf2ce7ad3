"""The unimodal-ensemble baseline: the mean of the single-input baselines' probabilities, per seed.

It needs no training (it reuses the baseline runs' test predictions) and is the strongest cheap alternative
to fusion: if a fusion cannot beat averaging two single-input models, the fusion does not pay. Removing an
input leaves the ensemble of the remaining members (for two inputs: the other single-input model), which is
how an ensemble copes with a missing input. Multilabel and binary members' decision thresholds are averaged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..evaluation.predictions import SamplePredictions
from ..tasks.calibration import calibration_metrics
from ..tasks.decisions import decide
from ..tasks.metrics import per_class_report, task_metrics
from .stats import aligned

NAME = "unimodal ensemble"


def average(members: Sequence[SamplePredictions]) -> SamplePredictions | None:
    """The members' mean probabilities (and thresholds); None when they were evaluated on different rows."""
    runs = aligned(members)
    if runs is None:
        return None
    thresholds = [r.thresholds for r in runs]
    return SamplePredictions(
        rows=runs[0].rows, labels=runs[0].labels, probabilities=np.mean([r.probabilities for r in runs], axis=0),
        label_names=runs[0].label_names, task=runs[0].task,
        thresholds=None if any(t is None for t in thresholds) else np.mean(thresholds, axis=0))


def ensemble_records(records: Sequence[dict[str, Any]], predictions: Mapping[int, SamplePredictions],
                     members: Sequence[str], metrics: Sequence[str]) -> list[tuple[dict[str, Any], SamplePredictions]]:
    """One record (shaped like a run's ``ablation.json``) and its predictions per seed at which every member
    (a single-input baseline variant) has predictions (``predictions``: ``id(record)`` → that run's)."""
    out = []
    seeds = sorted({r["seed"] for r in records if r["variant"] in members})
    for seed in seeds:
        mine = [r for name in members for r in records if r["variant"] == name and r["seed"] == seed]
        if len(mine) != len(members) or any(id(r) not in predictions for r in mine):
            continue
        combined = average([predictions[id(r)] for r in mine])
        if combined is None:
            continue
        inputs = [m for r in mine for m in r["inputs"]]
        scores = _metrics(combined, metrics)
        remaining = {m: average([predictions[id(r)] for r in mine if m not in r["inputs"]]) for m in inputs}
        without = {m: _metrics(rest, metrics) for m, rest in remaining.items() if rest is not None}
        per_class = per_class_report(combined.labels, decide(combined.task, combined.probabilities,
                                                                 combined.thresholds), combined.label_names)
        record = {
            "variant": NAME, "seed": seed, "kind": "ensemble", "inputs": inputs, "members": list(members),
            "run_dir": " + ".join(str(r.get("run_dir", "")) for r in mine), "task": combined.task,
            "metrics": scores, "without_metrics": without, "per_class": per_class,
            "ece": calibration_metrics(combined.task, combined.labels, combined.probabilities)["ece"],
            **{key: sum(r[key] for r in mine) for key in ("trainable_parameters", "parameters", "train_seconds",
                                                           "wall_seconds")},
            "corruption_curves": [], "corruption_summary": [],
        }
        out.append((record, combined))
    return out


def _metrics(predictions: SamplePredictions, metrics: Sequence[str]) -> dict[str, float]:
    values = task_metrics(predictions.task, predictions.labels, predictions.probabilities, predictions.thresholds)
    return {m: values[m] for m in metrics}
