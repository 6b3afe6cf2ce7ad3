"""Sweep reports: results.csv (one row per run), results.md (mean ± std per variant, intervals, paired tests,
per-class and per-group tables), results_summary.csv (one row per variant), plots.

The columns are the task's metrics (accuracy and macro-F1 for multiclass; micro/macro/weighted/samples F1,
mAP and subset accuracy for multilabel; AUROC, accuracy and F1 for binary), and variants are ranked by
``rank_by`` (the task's headline metric unless the sweep file says otherwise).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MMFusionError
from ..evaluation.baselines import DEGRADATION_TOLERANCE
from ..evaluation.predictions import SamplePredictions, read_predictions
from ..evaluation.report import markdown_table
from ..io import write_text_atomic
from ..tasks.definitions import METRICS, metric_title
from . import breakdown, ensemble, significance
from .plot import results_figure
from .stats import mean_std

MULTICLASS = METRICS["multiclass"]


def _without(record: dict[str, Any], modality: str, metric: str) -> float | None:
    """The run's ``metric`` with ``modality`` removed (None where the run does not read it)."""
    return record["without_metrics"].get(modality, {}).get(metric)


def _pm(values: Sequence[float], digits: int = 4) -> str:
    mean, std = mean_std(values)
    return "–" if np.isnan(mean) else f"{mean:.{digits}f} ± {std:.{digits}f}"


def aggregate(records: Sequence[dict[str, Any]], order: Sequence[str], inputs: Sequence[str],
              metrics: Sequence[str] = MULTICLASS, rank_by: str = "accuracy") -> list[dict[str, Any]]:
    """One row per variant (in sweep order) with lists of the per-seed values; ``without_<input>`` holds
    ``rank_by`` with that input removed; ``kind`` is single (one input), fused or ensemble."""
    rows = []
    for name in order:
        mine = [r for r in records if r["variant"] == name]
        if not mine:
            continue
        kind = mine[0].get("kind") or ("single" if len(mine[0]["inputs"]) == 1 else "fused")
        row: dict[str, Any] = {"variant": name, "kind": kind, "seeds": len(mine), "inputs": mine[0]["inputs"],
                               **{m: [r["metrics"][m] for r in mine] for m in dict.fromkeys([*metrics, rank_by])},
                               "ece": [r["ece"] for r in mine if r.get("ece") is not None],
                               "trainable_parameters": mine[0]["trainable_parameters"],
                               "train_seconds": [r["train_seconds"] for r in mine]}
        for m in inputs:
            row[f"without_{m}"] = [v for v in (_without(r, m, rank_by) for r in mine) if v is not None]
        curves: dict[str, list[float]] = {}
        for r in mine:
            for c in r.get("corruption_summary", []):
                curves.setdefault(f"{c['modality']}:{c['corruption']}", []).append(c["relative_robustness"])
        row["relative_robustness"] = curves
        rows.append(row)
    return rows


def results_markdown(rows: Sequence[dict[str, Any]], inputs: Sequence[str], metrics: Sequence[str] = MULTICLASS,
                     rank_by: str = "accuracy", curve_metric: str = "accuracy",
                     comparisons: Mapping[tuple[str, str], Any] | None = None,
                     sections: Sequence[str] = ()) -> str:
    """results.md: the metrics table, "does fusion pay?", then ``sections`` (lines of further sections)."""
    rank = metric_title(rank_by)
    comparisons = comparisons or {}
    lines = ["# Ablation results", "", f"Test metrics, mean ± std over seeds. *without X*: {rank} when input X is "
             "removed from every test sample (– where the variant does not read X). *ECE*: expected calibration "
             "error of the test probabilities (lower is better). *train time*: the sum of the run's epoch times "
             "(across resumptions).", ""]
    if any(r["kind"] == "ensemble" for r in rows):
        lines[-2] += (f" *{ensemble.NAME}*: the mean of the single-input baselines' probabilities (no training of its "
                      "own; without X: the ensemble of the other inputs' models; parameters and train time: its "
                      "members' sums).")
    header = ["variant", "seeds", *(metric_title(m) for m in metrics), *[f"without {m}" for m in inputs], "ECE",
              "trainable params", "train time (s)"]
    lines += markdown_table(header, ([row["variant"], str(row["seeds"]), *(_pm(row[m]) for m in metrics),
                                      *[_pm(row[f"without_{m}"]) if row[f"without_{m}"] else "–" for m in inputs],
                                      _pm(row["ece"]) if row.get("ece") else "–",
                                      f"{row['trainable_parameters']:,}", _pm(row["train_seconds"], 1)]
                                     for row in rows))
    verdict = _does_fusion_pay(rows, rank_by, comparisons)
    if verdict:
        lines += ["", verdict]
    lines += list(sections)
    curve_keys = sorted({k for r in rows for k in r["relative_robustness"]})
    if curve_keys:
        curve = metric_title(curve_metric)
        lines += ["", "## Robustness curves", "", f"Relative robustness (mean {curve} over the intensities / clean "
                  f"{curve}; 1 = unaffected), mean ± std over seeds. A model near chance level is trivially "
                  "'robust': read these next to the metrics above.", "",
                  *markdown_table(["variant", *curve_keys], (
                      [row["variant"], *(_pm(row["relative_robustness"][k], 3) if k in row["relative_robustness"]
                                         else "–" for k in curve_keys)]
                      for row in rows if row["kind"] != "ensemble"))]  # its members' corrupted predictions are gone
    lines += ["", f"![{rank} per variant](results.png)"]
    if curve_keys:
        lines += ["", "![robustness curves](corruption_curves.png)"]
    return "\n".join(lines) + "\n"




def degradation(rows: Sequence[dict[str, Any]], inputs: Sequence[str], rank_by: str) -> list[dict[str, Any]]:
    """Per fused variant and input X: its mean ``rank_by`` without X against the best single-input baseline among
    the inputs left (for two inputs: the other input alone), and whether it falls more than
    :data:`DEGRADATION_TOLERANCE` below it (a model that loses an input should keep what the rest gives alone)."""
    singles: dict[str, tuple[float, str]] = {}  # input → the best single-input variant that reads it
    for r in (r for r in rows if r["kind"] == "single"):
        value = (mean_std(r[rank_by])[0], r["variant"])
        if value[0] > singles.get(r["inputs"][0], (-np.inf, ""))[0]:
            singles[r["inputs"][0]] = value
    found = []
    for row in (r for r in rows if r["kind"] == "fused"):
        for m in inputs:
            left = [singles[i] for i in row["inputs"] if i != m and i in singles]
            if m not in row["inputs"] or not left or not row[f"without_{m}"]:
                continue
            value, name = max(left)
            without = mean_std(row[f"without_{m}"])[0]
            found.append({"variant": row["variant"], "removed": m, "without": without, "baseline": name,
                          "baseline_value": value, "difference": without - value,
                          "below": bool(without < value - DEGRADATION_TOLERANCE)})
    return found


def degradation_markdown(rows: Sequence[dict[str, Any]], inputs: Sequence[str], rank_by: str) -> list[str]:
    """The results.md section on losing an input: each fused variant's *without X* against the baseline left."""
    found = degradation(rows, inputs, rank_by)
    if not found:
        return []
    rank, below = metric_title(rank_by), [f"*{d['variant']}* without {d['removed']}" for d in found if d["below"]]
    verdict = (f"Below the baseline (by more than {DEGRADATION_TOLERANCE:g}): {', '.join(below)}." if below else
               f"Every fused variant keeps at least the baseline's {rank} (within {DEGRADATION_TOLERANCE:g}) when an "
               "input is removed.")
    return ["", "## Losing an input: without X against the baseline of what is left", "",
            f"Mean {rank} over seeds with input X removed from every test row, against the best single-input "
            "baseline of the inputs left (trained in this sweep).", "",
            *markdown_table(["variant", "removed", "without X", "baseline", "baseline " + rank, "Δ", ""],
                            ([d["variant"], d["removed"], f"{d['without']:.4f}", d["baseline"],
                              f"{d['baseline_value']:.4f}", f"{d['difference']:+.4f}",
                              "**below**" if d["below"] else "ok"] for d in found), left=2),
            "", verdict]


def _does_fusion_pay(rows: Sequence[dict[str, Any]], rank_by: str, comparisons: Mapping[tuple[str, str], Any]
                     ) -> str | None:
    """The best fused variant against the strongest cheap alternative: the best single input or, when the
    sweep has one, the unimodal ensemble, whichever scores higher."""
    unimodal = [r for r in rows if r["kind"] == "single"]
    fused = [r for r in rows if r["kind"] == "fused"]
    if not unimodal or not fused:
        return None
    rank = metric_title(rank_by)
    best_uni, best_fused = significance.best(unimodal, rank_by), significance.best(fused, rank_by)
    top = mean_std(best_fused[rank_by])[0]
    tied = [r["variant"] for r in fused if r is not best_fused and round(mean_std(r[rank_by])[0], 4) == round(top, 4)]
    ties = f", tied with {', '.join(f'*{t}*' for t in tied)}" if tied else ""
    uni = mean_std(best_uni[rank_by])[0]
    cheap = [r for r in rows if r["kind"] == "ensemble"]
    strongest = significance.best([best_uni, *cheap], rank_by)
    gain = top - mean_std(strongest[rank_by])[0]
    verdict = "fusion pays" if gain > 0 else "fusion does not pay here"
    against = f"best single input *{best_uni['variant']}* ({uni:.4f})"
    if cheap:
        ens, name = mean_std(cheap[0][rank_by])[0], best_uni["variant"]
        against = (f"the strongest cheap alternative, the {ensemble.NAME} ({ens:.4f}; best single input *{name}*: "
                   f"{uni:.4f})" if strongest is cheap[0] else f"the strongest cheap alternative, best single input "
                   f"*{name}* ({uni:.4f}; {ensemble.NAME}: {ens:.4f})")
    text = (f"**Does fusion pay?** Best fused variant *{best_fused['variant']}* ({top:.4f}{ties}) vs {against}: "
            f"{gain:+.4f} {rank} — {verdict}. (Best: highest mean {rank}, then the smaller std.)")
    test = comparisons.get((best_fused["variant"], strongest["variant"]))
    if test is not None:
        text += (f" Paired bootstrap over test rows: Δ {test.difference:+.4f} [95 % CI {test.low:+.4f}, "
                 f"{test.high:+.4f}], p = {significance._p(test.p_value)}.")
    return text


def results_csv(records: Sequence[dict[str, Any]], inputs: Sequence[str], metrics: Sequence[str] = MULTICLASS,
                rank_by: str = "accuracy") -> str:
    return breakdown.table_csv([
        {"variant": r["variant"], "seed": r["seed"], **{m: r["metrics"][m] for m in metrics},
         **{f"{rank_by}_without_{m}": _without(r, m, rank_by) for m in inputs}, "ece": r.get("ece"),
         **{k: r.get(k) for k in ("trainable_parameters", "parameters", "train_seconds", "wall_seconds", "run_dir")}}
        for r in records])


def write_reports(out_dir: Path, records: Sequence[dict[str, Any]], order: Sequence[str], inputs: Sequence[str],
                  task: str = "multiclass", rank_by: str | None = None, *, ensemble_of: Sequence[str] = (),
                  groups: Mapping[str, Mapping[int, str]] | None = None, resamples: int = 1000) -> dict[str, str]:
    """results.csv, results.md, results_summary.csv, per_class.csv, results.png (groups.csv with ``groups``,
    corruption_curves.png with curves) for ``task``, ranked by ``rank_by`` (default: the task's headline metric);
    curves follow the task's headline metric, as ``evaluate`` does.

    Args:
        ensemble_of: the single-input baselines whose mean probabilities make the unimodal ensemble (two or more).
        groups: group name → test row number → the row's value (see :mod:`mmfusion.sweep.groups`).
        resamples: paired bootstrap resamples (0: no paired tests).
    """
    from ..plots import corruption_curves_plot, save_figure
    from ..tasks.definitions import HEADLINE

    metrics, curve_metric = METRICS[task], HEADLINE[task]
    rank_by = rank_by or curve_metric
    entries, unread = _with_predictions(records)
    records, order = list(records), list(order)
    extra = ensemble.ensemble_records(records, {id(r): p for r, p in entries if p is not None}, ensemble_of,
                                      metrics) if len(ensemble_of) > 1 else []
    if extra:
        entries += extra
        records += [record for record, _ in extra]
        order.insert(max(order.index(m) for m in ensemble_of) + 1, ensemble.NAME)
    rows = aggregate(records, order, inputs, metrics, rank_by)
    runs: dict[str, list[SamplePredictions]] = {}
    for record, predictions in entries:
        if predictions is not None:
            runs.setdefault(record["variant"], []).append(predictions)
    comparisons = significance.compare(rows, runs, rank_by, resamples)
    per_class = breakdown.per_class_rows(entries)
    by_group = breakdown.group_rows(entries, groups or {}, metrics)
    test_rows = len(next(iter(runs.values()))[0]) if runs else None
    sections = [*degradation_markdown(rows, inputs, rank_by),
                *significance.significance_markdown(rows, comparisons, rank_by, resamples, test_rows),
                *breakdown.per_class_markdown(per_class, order, "label" if task == "multilabel" else "class"),
                *breakdown.groups_markdown(by_group, order, rank_by)]
    if unread:
        sections += ["", f"{len(unread)} run(s) have no per-sample test predictions ({'; '.join(unread[:3])}"
                     f"{'; …' if len(unread) > 3 else ''}): they are left out of the paired tests, the ensemble and "
                     "the group tables. Run the sweep again (`mmfusion ablate`): it evaluates such runs again."]
    texts = {"csv": ("results.csv", results_csv(records, inputs, metrics, rank_by)),
             "markdown": ("results.md", results_markdown(rows, inputs, metrics, rank_by, curve_metric, comparisons,
                                                         sections)),
             "summary": ("results_summary.csv",
                         breakdown.table_csv(significance.summary_rows(rows, metrics, comparisons, rank_by))),
             **{name: (f"{name}.csv", breakdown.table_csv(table))
                for name, table in (("per_class", per_class), ("groups", by_group)) if table}}
    files = {}
    for key, (name, text) in texts.items():
        write_text_atomic(out_dir / name, text)
        files[key] = str(out_dir / name)
    files["plot"] = str(save_figure(results_figure(rows, rank_by), out_dir / "results.png"))
    curves = [{**point, "variant": r["variant"]} for r in records for point in r.get("corruption_curves", [])]
    if curves:
        mean_curves = _mean_curves(curves, curve_metric)
        baselines = [r["variant"] for r in rows if r["kind"] == "single"]
        files["corruption_curves"] = str(corruption_curves_plot(mean_curves, out_dir / "corruption_curves.png",
                                                                series="variant", order=list(order),
                                                                dashed=baselines, metric=curve_metric))
    return files


def best_variant(records: Sequence[dict[str, Any]], order: Sequence[str], rank_by: str) -> str:
    """The trained variant with the highest mean ``rank_by`` (ties: the smaller std, then the first listed)."""
    rows = aggregate([r for r in records if r.get("kind") != "ensemble"], order, [], (rank_by,), rank_by)
    return significance.best(rows, rank_by)["variant"]


def _with_predictions(records: Sequence[dict[str, Any]]
                      ) -> tuple[list[tuple[dict[str, Any], SamplePredictions | None]], list[str]]:
    """Each record with its run's per-sample predictions (None where it has none), and the runs without."""
    entries, unread = [], []
    for record in records:
        path, predictions = record.get("predictions"), None
        if path:
            try:  # an absolute path stays itself
                predictions = read_predictions(Path(record.get("run_dir", ".")) / path)
            except MMFusionError as exc:
                unread.append(str(exc).split(";")[0])
        else:
            unread.append(f"{record['variant']} seed {record['seed']}")
        entries.append((record, predictions))
    return entries, unread


def _mean_curves(points: Sequence[dict[str, Any]], metric: str = "accuracy") -> list[dict[str, Any]]:
    groups: dict[tuple, list[float]] = {}
    for p in points:
        groups.setdefault((p["variant"], p["modality"], p["corruption"], p["intensity"]), []).append(p[metric])
    return [{"variant": v, "modality": m, "corruption": c, "intensity": i, metric: float(np.mean(a))}
            for (v, m, c, i), a in groups.items()]
