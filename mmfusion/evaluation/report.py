"""Markdown rendering of an evaluation report."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ..tasks.definitions import METRICS, metric_title


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]], left: int = 1) -> list[str]:
    """The lines of a markdown table: the first ``left`` columns left-aligned, the rest (numbers) right-aligned."""
    return ["| " + " | ".join(header) + " |", "|" + "---|" * left + "---:|" * (len(header) - left),
            *("| " + " | ".join(row) + " |" for row in rows)]


def evaluation_markdown(report: Any) -> str:
    """report.md of an :class:`~mmfusion.evaluation.evaluate.EvaluationReport`."""
    metrics = METRICS[report.task]
    headline = ", ".join(f"{metric_title(m)} **{report.metrics[m]:.4f}**" for m in metrics)
    lines = [f"# Evaluation on {report.data}", "", f"{report.rows} rows — {headline}", ""]
    if report.thresholds:
        tuned = ", ".join(f"{label} {value:g}" for label, value in report.thresholds.items())
        lines += [f"Task: {report.task}; decision thresholds: {tuned}", ""]
    lines += ["## Robustness: modalities removed from every sample", "",
              *markdown_table(["condition", *map(metric_title, metrics)],
                              ([row["condition"], *(f"{row[m]:.4f}" for m in metrics)] for row in report.robustness))]
    if report.corruption_summary:
        name = metric_title(report.headline)
        lines += ["", "## Robustness curves: one input corrupted", "",
                  f"relative robustness = mean {name} over the intensity range / clean {name}", "",
                  *markdown_table(("input", "corruption", "clean", "worst", "mean", "relative robustness"),
                                  ([r["modality"], r["corruption"],
                                    *(format(r[f"{k}_{r['metric']}"], ".4f") for k in ("clean", "worst", "mean")),
                                    f"{r['relative_robustness']:.3f}"] for r in report.corruption_summary), left=2),
                  "", "![corruption curves](corruption_curves.png)"]
    lines += calibration_markdown(getattr(report, "calibration", {}))
    lines += reliance_markdown(getattr(report, "reliance", {}))
    lines += drift_markdown(report.drift)
    lines += gate_markdown(getattr(report, "gate", []))
    lines += baselines_markdown(getattr(report, "baselines", []))
    kind = "label" if report.task == "multilabel" else "class"
    per_class = ([name, *(f"{report.per_class[name][k]:.3f}" for k in ("precision", "recall", "f1-score")),
                  str(int(report.per_class[name]["support"]))] for name in report.labels)
    lines += ["", f"## Per {kind}", "", *markdown_table((kind, "precision", "recall", "F1", "support"), per_class)]
    picture = "![F1 per label](per_label_f1.png)" if report.task == "multilabel" else \
        "![confusion matrix](confusion_matrix.png)"
    lines += ["", picture, "", "![robustness](robustness.png)", ""]
    return "\n".join(lines)


def calibration_markdown(found: dict[str, Any]) -> list[str]:
    """The calibration section: ECE, adaptive ECE and Brier score (and before temperature scaling)."""
    if not found:
        return []
    header = ["scores", "ECE", "adaptive ECE", "Brier", "log loss"]
    shown = [("as predicted", found)]
    if "uncalibrated" in found:
        temperature = ", ".join(f"{t:.3g}" for t in found["temperature"])
        shown = [(f"temperature-scaled (T = {temperature})", found), ("before scaling", found["uncalibrated"])]
    return ["", "## Calibration: does a probability of 0.9 mean 90 %?", "",
            "Expected calibration error (15 equal-width bins; adaptive: bins of equal counts), Brier score and log "
            "loss; lower is better", "",
            *markdown_table(header, ([name, *(f"{row[k]:.4f}" for k in ("ece", "adaptive_ece", "brier", "log_loss"))]
                                     for name, row in shown)),
            "", "![reliability](reliability.png)"]


def reliance_markdown(found: dict[str, Any]) -> list[str]:
    """The attribution section: each input's share of the Shapley values, overall and per class."""
    if not found:
        return []
    inputs = found["inputs"]
    how = "exact Shapley values" if found["exact"] else "Shapley values sampled over input orders"
    rows = [("all rows", found["rows"], found["share"], found["mean"])] + [
        (c["class"], c["rows"], c["share"], c["mean"]) for c in found["per_class"]]
    return ["", "## Which input decided: reliance on each input", "",
            f"Each row's {how} of {found['explained']}, from the model with each input left out; share = the "
            "input's part of the absolute contributions, mean = its signed mean contribution (per class: the rows "
            "predicted as it)", "",
            *markdown_table(["rows of", "rows", *(f"{m} share" for m in inputs), *(f"{m} mean" for m in inputs)],
                            ([name, str(count), *(f"{share[m]:.1%}" for m in inputs),
                              *(f"{mean[m]:+.3f}" for m in inputs)] for name, count, share, mean in rows)),
            "", "![reliance](reliance.png)"]


def drift_rows(drift: Sequence[dict[str, Any]]) -> list[tuple[str, ...]]:
    """The rows of a drift table: input, rows, AUROC, share beyond the training range, verdict."""
    return [(d["input"], str(d["rows"]), f"{d['auroc']:.3f}",
             "–" if d["beyond_range"] is None else f"{d['beyond_range']:.1%}",
             "drifted" if d["drifted"] else "like training") for d in drift]


DRIFT_HEADER = ("input", "rows", "AUROC vs training", "beyond training range", "verdict")


def baselines_markdown(found: Sequence[dict[str, Any]]) -> list[str]:
    """The section on losing inputs against baseline runs of the inputs left (none without ``--baseline``)."""
    if not found:
        return []
    below = [f"without {', '.join(d['removed'])}" for d in found if d["below"]]
    verdict = (f"**Below the baseline** (by more than 0.01): {'; '.join(below)}." if below else
               "Losing each input keeps at least the baseline's score (within 0.01).")
    return ["", "## Losing an input: against runs of the inputs left", "",
            *markdown_table(["removed", "without them", "baseline run", "baseline", "Δ", ""],
                            ([", ".join(d["removed"]), f"{d['without']:.4f}", d["baseline"],
                              f"{d['baseline_value']:.4f}", f"{d['difference']:+.4f}",
                              "**below**" if d["below"] else "ok"] for d in found), left=3),
            "", verdict]


def gate_markdown(gate: Sequence[dict[str, Any]]) -> list[str]:
    """The quality-gate section of report.md (none without ``train.quality_gate``)."""
    if not gate:
        return []
    return ["", "## Quality gate: inputs dropped from rows", "",
            "Rows whose input lay beyond the gate (train.quality_gate) were answered without it", "",
            *markdown_table(["input", "rows with it", "dropped", "share"],
                            ([g["input"], str(g["rows"]), str(g["dropped"]), f"{g['share']:.1%}"] for g in gate))]


def drift_markdown(drift: Sequence[dict[str, Any]]) -> list[str]:
    """The drift section of report.md (none without a drift reference in the run)."""
    if not drift:
        return []
    return ["", "## Drift: do the inputs look like the training inputs?", "",
            "AUROC of telling these rows from training rows by each input's encoder features (0.5: alike; "
            "drifted from 0.7); beyond the range: rows farther than 99 % of training rows (about 1 % when alike)", "",
            *markdown_table(DRIFT_HEADER, drift_rows(drift))]
