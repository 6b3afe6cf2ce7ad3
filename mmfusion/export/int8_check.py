"""The int8 model against the fp32 one on the run's own validation rows: the metric each reaches, and how
often their predictions agree (a finer signal than the metric on a few hundred rows)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from ..errors import MMFusionError
from ..runs import LoadedRun
from .wrapper import feeds_for


def _validation_table(run: LoadedRun, rows: int) -> tuple[Any, str | None]:
    """The prepared tables with only (up to ``rows`` of) the validation split, or None and why not."""
    from ..data.tables import load_prepared_tables

    data = run.spec.data
    if data is None or data.source is None:
        return None, "the run was trained on DataFrames (its spec names no data.source to read validation rows from)"
    try:
        prepared = load_prepared_tables(data)
    except MMFusionError as exc:  # data moved or offline: quantising still works, it just cannot be checked
        return None, f"its data could not be read ({str(exc).splitlines()[0]})"
    table = prepared.tables.get("validation")
    if table is None or len(table) == 0:
        return None, "the run's data has no validation split (data.split.validation)"
    if len(table) > rows:  # a random subset: validation tables are often grouped (by image, by class)
        table = table.sample(n=rows, random_state=0).sort_index()
    return replace(prepared, tables={"validation": table}), None


def compare_on_validation(run: LoadedRun, names: Sequence[str], fp32: Any, int8: Any, *, rows: int,
                          batch_size: int = 64) -> dict[str, Any]:
    """Accuracy (multilabel: subset accuracy) of both sessions on up to ``rows`` validation rows.

    Returns ``checked: False`` with a ``reason`` when the run has no validation rows that can be read.
    """
    from ..data.labels import LabelSet
    from ..data.pipeline import build_pipeline
    from ..evaluation.metrics import predicted, task_metrics
    from ..losses import loss_scores

    prepared, reason = _validation_table(run, rows)
    if prepared is None:
        return {"checked": False, "reason": reason}
    task = run.task
    labels = LabelSet(run.labels, task=task, sep=run.label_sep)
    pipeline = build_pipeline(run.model, run.spec.data, prepared, labels, splits=["validation"], cache=False)
    scores = loss_scores(run.spec.train, run.model.num_classes, task=task)
    logits: dict[str, list[np.ndarray]] = {"fp32": [], "int8": []}
    truth = []
    for batch in pipeline.batches("validation", batch_size):
        feeds = feeds_for(names, batch)
        logits["fp32"].append(fp32.run(None, feeds)[0])
        logits["int8"].append(int8.run(None, feeds)[0])
        truth.append(batch.labels.numpy())
    if not truth:
        return {"checked": False, "reason": "no validation row has a usable label"}
    import torch

    y = np.concatenate(truth)
    both = {k: scores(torch.from_numpy(np.concatenate(v)).float()).numpy() for k, v in logits.items()}
    metric = "subset_accuracy" if task == "multilabel" else "accuracy"
    got = {k: task_metrics(task, y, s, run.thresholds)[metric] for k, s in both.items()}
    chosen = {k: predicted(task, s, run.thresholds).reshape(len(y), -1) for k, s in both.items()}
    diff = np.abs(np.concatenate(logits["fp32"]) - np.concatenate(logits["int8"]))
    return {"checked": True, "rows": int(len(y)), "metric": metric, "fp32": round(got["fp32"], 6),
            "int8": round(got["int8"], 6), "drop_points": round(100 * (got["fp32"] - got["int8"]), 4),
            "agreement": round(float((chosen["fp32"] == chosen["int8"]).all(axis=1).mean()), 6),
            "max_abs_logit_diff": round(float(diff.max()), 6)}
