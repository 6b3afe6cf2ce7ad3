"""Markdown rendering of an evaluation report."""

from __future__ import annotations

from typing import Any


def evaluation_markdown(report: Any) -> str:
    lines = [f"# Evaluation on {report.data}", "",
             f"{report.rows} rows — accuracy **{report.accuracy:.4f}**, macro-F1 **{report.macro_f1:.4f}**", "",
             "## Robustness: modalities removed from every sample", "",
             "| condition | accuracy | macro-F1 |", "|---|---:|---:|"]
    for row in report.robustness:
        lines.append(f"| {row['condition']} | {row['accuracy']:.4f} | {row['macro_f1']:.4f} |")
    if report.corruption_summary:
        lines += ["", "## Robustness curves: one input corrupted", "",
                  "relative robustness = mean accuracy over the intensity range / clean accuracy", "",
                  "| input | corruption | clean | worst | mean | relative robustness |",
                  "|---|---|---:|---:|---:|---:|"]
        for row in report.corruption_summary:
            lines.append(f"| {row['modality']} | {row['corruption']} | {row['clean_accuracy']:.4f} | "
                         f"{row['worst_accuracy']:.4f} | {row['mean_accuracy']:.4f} | "
                         f"{row['relative_robustness']:.3f} |")
        lines += ["", "![corruption curves](corruption_curves.png)"]
    lines += ["", "## Per class", "", "| class | precision | recall | F1 | support |", "|---|---:|---:|---:|---:|"]
    for name in report.labels:
        row = report.per_class.get(name, {})
        lines.append(f"| {name} | {row.get('precision', 0):.3f} | {row.get('recall', 0):.3f} | "
                     f"{row.get('f1-score', 0):.3f} | {int(row.get('support', 0))} |")
    lines += ["", "![confusion matrix](confusion_matrix.png)", "", "![robustness](robustness.png)", ""]
    return "\n".join(lines)
