"""Sweep reports: results.csv (one row per run), results.md (mean ± std per variant), plots."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..io import write_text_atomic


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


def aggregate(records: Sequence[dict[str, Any]], order: Sequence[str], inputs: Sequence[str]) -> list[dict[str, Any]]:
    """One row per variant (in sweep order) with lists of the per-seed values."""
    rows = []
    for name in order:
        mine = [r for r in records if r["variant"] == name]
        if not mine:
            continue
        row: dict[str, Any] = {"variant": name, "seeds": len(mine), "inputs": mine[0]["inputs"],
                               "accuracy": [r["accuracy"] for r in mine], "macro_f1": [r["macro_f1"] for r in mine],
                               "trainable_parameters": mine[0]["trainable_parameters"],
                               "train_seconds": [r["train_seconds"] for r in mine]}
        for m in inputs:
            row[f"without_{m}"] = [r["without"][m] for r in mine if m in r["without"]]
        curves: dict[str, list[float]] = {}
        for r in mine:
            for c in r.get("corruption_summary", []):
                curves.setdefault(f"{c['modality']}:{c['corruption']}", []).append(c["relative_robustness"])
        row["relative_robustness"] = curves
        rows.append(row)
    return rows


def results_markdown(rows: Sequence[dict[str, Any]], inputs: Sequence[str]) -> str:
    lines = ["# Ablation results", "", "Test metrics, mean ± std over seeds. *without X*: accuracy when input X is "
             "removed from every test sample (– where the variant does not read X). *train time*: the sum of the "
             "run's epoch times (across resumptions).", ""]
    header = ["variant", "seeds", "accuracy", "macro-F1", *[f"without {m}" for m in inputs],
              "trainable params", "train time (s)"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" + "---:|" * (len(header) - 1)]
    for row in rows:
        cells = [row["variant"], str(row["seeds"]), _pm(row["accuracy"]), _pm(row["macro_f1"]),
                 *[_pm(row[f"without_{m}"]) if row[f"without_{m}"] else "–" for m in inputs],
                 f"{row['trainable_parameters']:,}", _pm(row["train_seconds"], 1)]
        lines.append("| " + " | ".join(cells) + " |")
    unimodal = [r for r in rows if len(r["inputs"]) == 1]
    fused = [r for r in rows if len(r["inputs"]) > 1]
    if unimodal and fused:
        best_uni, best_fused = _best(unimodal), _best(fused)
        top = _stats(best_fused["accuracy"])[0]
        tied = [r["variant"] for r in fused
                if r is not best_fused and round(_stats(r["accuracy"])[0], 4) == round(top, 4)]
        gain = top - _stats(best_uni["accuracy"])[0]
        verdict = "fusion pays" if gain > 0 else "fusion does not pay here"
        ties = f", tied with {', '.join(f'*{t}*' for t in tied)}" if tied else ""
        lines += ["", f"**Does fusion pay?** Best fused variant *{best_fused['variant']}* ({top:.4f}{ties}) vs best "
                      f"single input *{best_uni['variant']}* ({_stats(best_uni['accuracy'])[0]:.4f}): "
                      f"{gain:+.4f} accuracy — {verdict}. (Best: highest mean accuracy, then the smaller std.)"]
    curve_keys = sorted({k for r in rows for k in r["relative_robustness"]})
    if curve_keys:
        lines += ["", "## Robustness curves", "", "Relative robustness (mean accuracy over the intensities / clean "
                  "accuracy; 1 = unaffected), mean ± std over seeds. A model near chance level is trivially "
                  "'robust': read these next to the accuracies above.", "",
                  "| variant | " + " | ".join(curve_keys) + " |", "|---|" + "---:|" * len(curve_keys)]
        for row in rows:
            cells = [_pm(row["relative_robustness"][k], 3) if k in row["relative_robustness"] else "–"
                     for k in curve_keys]
            lines.append(f"| {row['variant']} | " + " | ".join(cells) + " |")
    lines += ["", "![accuracy per variant](results.png)"]
    if curve_keys:
        lines += ["", "![robustness curves](corruption_curves.png)"]
    return "\n".join(lines) + "\n"


def _best(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Highest mean accuracy; among equal means, the smaller spread over seeds; then the first listed."""
    return min(rows, key=lambda r: (-round(_stats(r["accuracy"])[0], 4), _stats(r["accuracy"])[1]))


def results_csv(records: Sequence[dict[str, Any]], inputs: Sequence[str]) -> str:
    buffer = io.StringIO()
    fields = ["variant", "seed", "accuracy", "macro_f1", *[f"accuracy_without_{m}" for m in inputs],
              "trainable_parameters", "parameters", "train_seconds", "wall_seconds", "run_dir"]
    writer = csv.DictWriter(buffer, fieldnames=fields)
    writer.writeheader()
    for r in records:
        writer.writerow({**{k: r.get(k) for k in fields if k in r},
                         **{f"accuracy_without_{m}": r["without"].get(m, "") for m in inputs}})
    return buffer.getvalue()


def results_plot(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    """Accuracy and macro-F1 per variant with error bars (std over seeds); single-input baselines in grey."""
    from ..evaluation.plots import _figure, _save

    names = [r["variant"] for r in rows]
    x = np.arange(len(rows))
    fig = _figure(figsize=(max(6, 1.1 * len(rows) + 2), 4.2))
    ax = fig.subplots()
    for offset, key in ((-0.2, "accuracy"), (0.2, "macro_f1")):
        means = [_stats(r[key])[0] for r in rows]
        stds = [_stats(r[key])[1] for r in rows]
        colours = ["#9a9a9a" if len(r["inputs"]) == 1 else ("#4c72b0" if key == "accuracy" else "#dd8452")
                   for r in rows]
        ax.bar(x + offset, means, width=0.4, yerr=stds, capsize=3, color=colours,
               alpha=1.0 if key == "accuracy" else 0.75)
    ax.set_xticks(x, labels=names, rotation=30, ha="right")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("test score (mean ± std over seeds)")
    ax.set_title("Fusion ablation")
    from matplotlib.patches import Patch

    ax.legend(handles=[Patch(color="#4c72b0", label="accuracy"), Patch(color="#dd8452", alpha=0.75, label="macro-F1"),
                       Patch(color="#9a9a9a", label="single-input baseline")], loc="lower right")
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


def write_reports(out_dir: Path, records: Sequence[dict[str, Any]], order: Sequence[str], inputs: Sequence[str]
                  ) -> dict[str, str]:
    from ..evaluation.plots import corruption_curves_plot

    rows = aggregate(records, order, inputs)
    files = {"csv": str(out_dir / "results.csv"), "markdown": str(out_dir / "results.md")}
    write_text_atomic(out_dir / "results.csv", results_csv(records, inputs))
    write_text_atomic(out_dir / "results.md", results_markdown(rows, inputs))
    files["plot"] = str(results_plot(rows, out_dir / "results.png"))
    curves = [{**point, "variant": r["variant"]} for r in records for point in r.get("corruption_curves", [])]
    if curves:
        mean_curves = _mean_curves(curves)
        baselines = [r["variant"] for r in rows if len(r["inputs"]) == 1]
        files["corruption_curves"] = str(corruption_curves_plot(mean_curves, out_dir / "corruption_curves.png",
                                                                series="variant", order=list(order),
                                                                dashed=baselines))
    return files


def _mean_curves(points: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[tuple, list[float]] = {}
    for p in points:
        groups.setdefault((p["variant"], p["modality"], p["corruption"], p["intensity"]), []).append(p["accuracy"])
    return [{"variant": v, "modality": m, "corruption": c, "intensity": i, "accuracy": float(np.mean(a))}
            for (v, m, c, i), a in groups.items()]
