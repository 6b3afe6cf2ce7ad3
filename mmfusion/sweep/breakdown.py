"""Sweep results broken down: per class (or label) and per group of test rows (``report.groups`` /
``report.unseen``), per variant, from the runs' per-sample predictions."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..evaluation.predictions import SamplePredictions
from ..evaluation.report import markdown_table
from ..tasks.decisions import decide
from ..tasks.definitions import metric_title
from ..tasks.metrics import per_class_report, task_metrics
from .stats import t_interval

#: wider tables than this many classes are left to per_class.csv
MAX_CLASS_COLUMNS = 30

Entry = tuple[dict[str, Any], "SamplePredictions | None"]


def per_class_rows(entries: Sequence[Entry]) -> list[dict[str, Any]]:
    """One row per (variant, seed, class): precision, recall, F1 and support on the test rows."""
    out = []
    for record, predictions in entries:
        if predictions is not None:
            names = predictions.label_names
            report = per_class_report(predictions.labels, decide(predictions.task, predictions.probabilities,
                                                                 predictions.thresholds), names)
        elif record.get("per_class"):
            report = record["per_class"]
            names = [k for k in report if k not in ("accuracy", "micro avg", "macro avg", "weighted avg",
                                                    "samples avg")]
        else:
            continue
        for name in names:
            row = report.get(name, {})
            out.append({"variant": record["variant"], "seed": record["seed"], "class": name,
                        "precision": row.get("precision"), "recall": row.get("recall"), "f1": row.get("f1-score"),
                        "support": int(row.get("support", 0))})
    return out


def per_class_markdown(rows: Sequence[dict[str, Any]], order: Sequence[str], kind: str = "class") -> list[str]:
    """F1 per class (columns) and variant (rows), mean over seeds."""
    classes = list(dict.fromkeys(r["class"] for r in rows))
    if not classes:
        return []
    lines = ["", f"## Per {kind}", ""]
    if len(classes) > MAX_CLASS_COLUMNS:
        return [*lines, f"{len(classes)} {kind}es: see per_class.csv (F1, precision, recall and support per "
                        "variant, seed and class)."]
    support = {r["class"]: r["support"] for r in rows}
    lines += [f"Test F1 per {kind}, mean over seeds (support: test rows with the {kind}). Per seed, with precision "
              "and recall: per_class.csv.", ""]
    shown = [name for name in order if any(r["variant"] == name for r in rows)]
    return lines + markdown_table(["variant", *(f"{c} ({support[c]})" for c in classes)], (
        [name, *(_mean([r["f1"] for r in rows if r["variant"] == name and r["class"] == c], 3) for c in classes)]
        for name in shown))


def group_rows(entries: Sequence[Entry], groups: Mapping[str, Mapping[int, str]], metrics: Sequence[str]
               ) -> list[dict[str, Any]]:
    """One row per (variant, seed, group, value): the task's metrics on the test rows with that value."""
    out = []
    for record, predictions in entries:
        if predictions is None:
            continue
        for group, values in groups.items():
            labels = np.array([values.get(int(r)) for r in predictions.rows], dtype=object)
            for value in sorted({v for v in labels if v is not None}, key=str):
                mask = labels == value
                scores = task_metrics(predictions.task, predictions.labels[mask], predictions.probabilities[mask],
                                      predictions.thresholds)
                out.append({"variant": record["variant"], "seed": record["seed"], "group": group, "value": value,
                            "rows": int(mask.sum()), **{m: scores[m] for m in metrics}})
    return out


def groups_markdown(rows: Sequence[dict[str, Any]], order: Sequence[str], metric: str) -> list[str]:
    """Per group: ``metric`` per variant (rows) and value (columns), mean and t-interval over seeds."""
    if not rows:
        return []
    title = metric_title(metric)
    lines = ["", "## Groups of test rows", "",
             f"Test {title} on the rows of each group, mean over seeds [95 % t-interval over seeds] (n: test rows). "
             "Per seed, with every metric: groups.csv."]
    for group in dict.fromkeys(r["group"] for r in rows):
        mine = [r for r in rows if r["group"] == group]
        values = list(dict.fromkeys(r["value"] for r in mine))
        counts = {v: next(r["rows"] for r in mine if r["value"] == v) for v in values}
        shown = [name for name in order if any(r["variant"] == name for r in mine)]
        lines += ["", f"### {group}", "", *markdown_table(["variant", *(f"{v} (n={counts[v]})" for v in values)], (
            [name, *(interval([r[metric] for r in mine if r["variant"] == name and r["value"] == v], 3)
                     for v in values)] for name in shown))]
    return lines


def interval(values: Sequence[float | None], digits: int = 4) -> str:
    """``mean [low, high]`` (the t-interval over seeds), ``mean`` alone for one seed, ``–`` for none."""
    mean, low, high = t_interval(values)
    if np.isnan(mean):
        return "–"
    if np.isnan(low):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def _mean(values: Sequence[float | None], digits: int) -> str:
    finite = [v for v in values if v is not None and np.isfinite(v)]
    return f"{np.mean(finite):.{digits}f}" if finite else "–"


def table_csv(rows: Sequence[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return buffer.getvalue()
