"""Markdown rendering of an evaluation report."""

from __future__ import annotations

from typing import Any

from ..tasks.definitions import METRICS, metric_title


def evaluation_markdown(report: Any) -> str:
    """report.md of an :class:`~mmfusion.evaluation.evaluate.EvaluationReport`."""
    metrics = METRICS[report.task]
    headline = ", ".join(f"{metric_title(m)} **{report.metrics[m]:.4f}**" for m in metrics)
    lines = [f"# Evaluation on {report.data}", "", f"{report.rows} rows — {headline}", ""]
    if report.thresholds:
        tuned = ", ".join(f"{label} {value:g}" for label, value in report.thresholds.items())
        lines += [f"Task: {report.task}; decision thresholds: {tuned}", ""]
    lines += ["## Robustness: modalities removed from every sample", "",
              "| condition | " + " | ".join(metric_title(m) for m in metrics) + " |",
              "|---|" + "---:|" * len(metrics)]
    for row in report.robustness:
        lines.append(f"| {row['condition']} | " + " | ".join(f"{row[m]:.4f}" for m in metrics) + " |")
    if report.corruption_summary:
        name = metric_title(report.headline)
        lines += ["", "## Robustness curves: one input corrupted", "",
                  f"relative robustness = mean {name} over the intensity range / clean {name}", "",
                  "| input | corruption | clean | worst | mean | relative robustness |",
                  "|---|---|---:|---:|---:|---:|"]
        for row in report.corruption_summary:
            key = row["metric"]
            lines.append(f"| {row['modality']} | {row['corruption']} | {row[f'clean_{key}']:.4f} | "
                         f"{row[f'worst_{key}']:.4f} | {row[f'mean_{key}']:.4f} | "
                         f"{row['relative_robustness']:.3f} |")
        lines += ["", "![corruption curves](corruption_curves.png)"]
    kind = "label" if report.task == "multilabel" else "class"
    lines += ["", f"## Per {kind}", "", f"| {kind} | precision | recall | F1 | support |", "|---|---:|---:|---:|---:|"]
    for name in report.labels:
        row = report.per_class[name]
        lines.append(f"| {name} | {row['precision']:.3f} | {row['recall']:.3f} | {row['f1-score']:.3f} | "
                     f"{int(row['support'])} |")
    picture = "![F1 per label](per_label_f1.png)" if report.task == "multilabel" else \
        "![confusion matrix](confusion_matrix.png)"
    lines += ["", picture, "", "![robustness](robustness.png)", ""]
    return "\n".join(lines)
