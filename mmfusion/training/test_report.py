"""After training: the best model on the test table — metrics, per-class report, confusion matrix."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from ..data.pipeline import DataPipeline
from ..evaluation.metrics import confusion, per_class_report, summary_metrics
from ..evaluation.plots import confusion_matrix_plot
from ..progress import Reporter
from ..runs import RunPaths
from .steps import predict_batches


def write_test_report(model, pipeline: DataPipeline, paths: RunPaths, names: Sequence[str], *,  # type: ignore
                      device: torch.device, autocast: Callable[[], Any], channels_last: Sequence[str],
                      batch_size: int, reporter: Reporter) -> dict[str, Any]:
    with reporter.task("testing", pipeline.num_batches("test", batch_size)) as advance:
        result = predict_batches(model, pipeline.batches("test", batch_size), autocast=autocast, device=device,
                                 channels_last=channels_last, advance=advance)
    metrics = summary_metrics(result.labels, result.predicted, len(names))
    matrix = confusion(result.labels, result.predicted, len(names))
    confusion_matrix_plot(matrix, names, paths.plots / "confusion_matrix.png", title="Test confusion matrix")
    reporter.log(f"test: accuracy {metrics['accuracy']:.4f}, macro-F1 {metrics['macro_f1']:.4f} "
                 f"({len(result.labels)} rows)")
    return {**metrics, "rows": int(len(result.labels)), "per_class": per_class_report(result.labels,
                                                                                      result.predicted, names)}
