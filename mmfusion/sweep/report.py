"""Sweep reports: results.csv (one row per run), results.md (mean ± std per variant), plots.

The columns are the task's metrics (accuracy and macro-F1 for multiclass; micro/macro/weighted/samples F1,
mAP and subset accuracy for multilabel; AUROC, accuracy and F1 for binary), and variants are ranked by
``rank_by`` (the task's headline metric unless the sweep file says otherwise).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..io import write_text_atomic
from ..tasks import METRICS, metric_title

MULTICLASS = METRICS["multiclass"]


def _metric(record: dict[str, Any], name: str) -> float | None:
    """A run's test metric (records written before tasks existed hold accuracy and macro-F1 at the top)."""
    metrics = record.get("metrics") or {}
    return metrics.get(name, record.get(name))


def _without(record: dict[str, Any], modality: str, metric: str) -> float | None:
    """The run's ``metric`` with ``modality`` removed (older records: accuracy only, under ``without``)."""
    per_metric = (record.get("without_metrics") or {}).get(modality)
    if per_metric is not None:
        return per_metric.get(metric)
    return record.get("without", {}).get(modality) if metric == "accuracy" else None


def _stats(values: Sequence[float]) -> tuple[float, float]:
    array = np.asarray([v for v in values if v is not None], dtype=float)
    array = array[np.isfinite(array)]  # one undefined value (e.g. robustness of a 0-accuracy run) hides no others
    if not len(array):
        return float("nan"), float("nan")
    return float(array.mean()), float(array.std(ddof=1)) if len(array) > 1 else 0.0


def _pm(values: Sequence[float], digits: int = 4) -> str:
    mean, std = _stats(values)
    if np.isnan(mean):
        return "–"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def aggregate(records: Sequence[dict[str, Any]], order: Sequence[str], inputs: Sequence[str],
              metrics: Sequence[str] = MULTICLASS, rank_by: str = "accuracy") -> list[dict[str, Any]]:
    """One row per variant (in sweep order) with lists of the per-seed values; ``without_<input>`` holds
    ``rank_by`` with that input removed."""
    rows = []
    for name in order:
        mine = [r for r in records if r["variant"] == name]
        if not mine:
            continue
        row: dict[str, Any] = {"variant": name, "seeds": len(mine), "inputs": mine[0]["inputs"],
                               **{m: [_metric(r, m) for r in mine] for m in dict.fromkeys([*metrics, rank_by])},
                               "trainable_parameters": mine[0]["trainable_parameters"],
                               "train_seconds": [r["train_seconds"] for r in mine]}
        for m in inputs:
            values = [_without(r, m, rank_by) for r in mine]
            row[f"without_{m}"] = [v for v in values if v is not None]
        curves: dict[str, list[float]] = {}
        for r in mine:
            for c in r.get("corruption_summary", []):
                curves.setdefault(f"{c['modality']}:{c['corruption']}", []).append(c["relative_robustness"])
        row["relative_robustness"] = curves
        rows.append(row)
    return rows


def results_markdown(rows: Sequence[dict[str, Any]], inputs: Sequence[str], metrics: Sequence[str] = MULTICLASS,
                     rank_by: str = "accuracy", curve_metric: str = "accuracy") -> str:
    rank = metric_title(rank_by)
    lines = ["# Ablation results", "", f"Test metrics, mean ± std over seeds. *without X*: {rank} when input X is "
             "removed from every test sample (– where the variant does not read X). *train time*: the sum of the "
             "run's epoch times (across resumptions).", ""]
    header = ["variant", "seeds", *(metric_title(m) for m in metrics), *[f"without {m}" for m in inputs],
              "trainable params", "train time (s)"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" + "---:|" * (len(header) - 1)]
    for row in rows:
        cells = [row["variant"], str(row["seeds"]), *(_pm(row[m]) for m in metrics),
                 *[_pm(row[f"without_{m}"]) if row[f"without_{m}"] else "–" for m in inputs],
                 f"{row['trainable_parameters']:,}", _pm(row["train_seconds"], 1)]
        lines.append("| " + " | ".join(cells) + " |")
    unimodal = [r for r in rows if len(r["inputs"]) == 1]
    fused = [r for r in rows if len(r["inputs"]) > 1]
    if unimodal and fused:
        best_uni, best_fused = _best(unimodal, rank_by), _best(fused, rank_by)
        top = _stats(best_fused[rank_by])[0]
        tied = [r["variant"] for r in fused
                if r is not best_fused and round(_stats(r[rank_by])[0], 4) == round(top, 4)]
        gain = top - _stats(best_uni[rank_by])[0]
        verdict = "fusion pays" if gain > 0 else "fusion does not pay here"
        ties = f", tied with {', '.join(f'*{t}*' for t in tied)}" if tied else ""
        lines += ["", f"**Does fusion pay?** Best fused variant *{best_fused['variant']}* ({top:.4f}{ties}) vs best "
                      f"single input *{best_uni['variant']}* ({_stats(best_uni[rank_by])[0]:.4f}): "
                      f"{gain:+.4f} {rank} — {verdict}. (Best: highest mean {rank}, then the smaller std.)"]
    curve_keys = sorted({k for r in rows for k in r["relative_robustness"]})
    if curve_keys:
        curve = metric_title(curve_metric)
        lines += ["", "## Robustness curves", "", f"Relative robustness (mean {curve} over the intensities / clean "
                  f"{curve}; 1 = unaffected), mean ± std over seeds. A model near chance level is trivially "
                  "'robust': read these next to the metrics above.", "",
                  "| variant | " + " | ".join(curve_keys) + " |", "|---|" + "---:|" * len(curve_keys)]
        for row in rows:
            cells = [_pm(row["relative_robustness"][k], 3) if k in row["relative_robustness"] else "–"
                     for k in curve_keys]
            lines.append(f"| {row['variant']} | " + " | ".join(cells) + " |")
    lines += ["", f"![{rank} per variant](results.png)"]
    if curve_keys:
        lines += ["", "![robustness curves](corruption_curves.png)"]
    return "\n".join(lines) + "\n"


def _best(rows: Sequence[dict[str, Any]], metric: str = "accuracy") -> dict[str, Any]:
    """Highest mean ``metric``; among equal means, the smaller spread over seeds; then the first listed."""
    return min(rows, key=lambda r: (-round(_stats(r[metric])[0], 4), _stats(r[metric])[1]))


def results_csv(records: Sequence[dict[str, Any]], inputs: Sequence[str], metrics: Sequence[str] = MULTICLASS,
                rank_by: str = "accuracy") -> str:
    buffer = io.StringIO()
    fields = ["variant", "seed", *metrics, *[f"{rank_by}_without_{m}" for m in inputs],
              "trainable_parameters", "parameters", "train_seconds", "wall_seconds", "run_dir"]
    writer = csv.DictWriter(buffer, fieldnames=fields)
    writer.writeheader()
    for r in records:
        without = {f"{rank_by}_without_{m}": _without(r, m, rank_by) for m in inputs}
        writer.writerow({**{k: r.get(k) for k in fields if k in r}, **{m: _metric(r, m) for m in metrics},
                         **{k: "" if v is None else v for k, v in without.items()}})
    return buffer.getvalue()


def results_plot(rows: Sequence[dict[str, Any]], path: Path, rank_by: str = "accuracy") -> Path:
    """``rank_by`` and macro-F1 per variant (with error bars: std over seeds); single-input baselines in grey."""
    from ..evaluation.plots import _figure, _save

    names = [r["variant"] for r in rows]
    x = np.arange(len(rows))
    fig = _figure(figsize=(max(6, 1.1 * len(rows) + 2), 4.2))
    ax = fig.subplots()
    second = "macro_f1" if rank_by != "macro_f1" else "accuracy"
    shown = [(-0.2, rank_by), (0.2, second)] if all(second in r for r in rows) else [(0.0, rank_by)]
    for offset, key in shown:
        means = [_stats(r[key])[0] for r in rows]
        stds = [_stats(r[key])[1] for r in rows]
        colours = ["#9a9a9a" if len(r["inputs"]) == 1 else ("#4c72b0" if key == rank_by else "#dd8452")
                   for r in rows]
        ax.bar(x + offset, means, width=0.4, yerr=stds, capsize=3, color=colours,
               alpha=1.0 if key == rank_by else 0.75)
    ax.set_xticks(x, labels=names, rotation=30, ha="right")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("test score (mean ± std over seeds)")
    ax.set_title("Fusion ablation")
    from matplotlib.patches import Patch

    handles = [Patch(color="#4c72b0", label=metric_title(rank_by))]
    if len(shown) > 1:
        handles.append(Patch(color="#dd8452", alpha=0.75, label=metric_title(second)))
    ax.legend(handles=[*handles, Patch(color="#9a9a9a", label="single-input baseline")], loc="lower right")
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


def write_reports(out_dir: Path, records: Sequence[dict[str, Any]], order: Sequence[str], inputs: Sequence[str],
                  task: str = "multiclass", rank_by: str | None = None) -> dict[str, str]:
    """results.csv, results.md, results.png (and corruption_curves.png) for ``task``, ranked by ``rank_by``
    (default: the task's headline metric); curves follow the task's headline metric, as ``evaluate`` does."""
    from ..evaluation.plots import corruption_curves_plot
    from ..tasks import HEADLINE

    metrics, curve_metric = METRICS[task], HEADLINE[task]
    rank_by = rank_by or curve_metric
    rows = aggregate(records, order, inputs, metrics, rank_by)
    files = {"csv": str(out_dir / "results.csv"), "markdown": str(out_dir / "results.md")}
    write_text_atomic(out_dir / "results.csv", results_csv(records, inputs, metrics, rank_by))
    write_text_atomic(out_dir / "results.md", results_markdown(rows, inputs, metrics, rank_by, curve_metric))
    files["plot"] = str(results_plot(rows, out_dir / "results.png", rank_by))
    curves = [{**point, "variant": r["variant"]} for r in records for point in r.get("corruption_curves", [])]
    if curves:
        mean_curves = _mean_curves(curves, curve_metric)
        baselines = [r["variant"] for r in rows if len(r["inputs"]) == 1]
        files["corruption_curves"] = str(corruption_curves_plot(mean_curves, out_dir / "corruption_curves.png",
                                                                series="variant", order=list(order),
                                                                dashed=baselines, metric=curve_metric))
    return files


def _mean_curves(points: Sequence[dict[str, Any]], metric: str = "accuracy") -> list[dict[str, Any]]:
    groups: dict[tuple, list[float]] = {}
    for p in points:
        groups.setdefault((p["variant"], p["modality"], p["corruption"], p["intensity"]), []).append(p[metric])
    return [{"variant": v, "modality": m, "corruption": c, "intensity": i, metric: float(np.mean(a))}
            for (v, m, c, i), a in groups.items()]
