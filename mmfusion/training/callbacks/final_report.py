"""After training: the best model on the test table (the task's metrics, per-class report, confusion matrix or
per-label F1), and summary.json."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import torch

from ...inference.drift import drift_report
from ...inference.reliance import reliance
from ...interfaces.callback import Callback
from ...io import write_json_atomic
from ...model.summary import summarize
from ...plots import confusion_matrix_plot, per_label_f1_plot, reliability_plot, reliance_plot
from ...tasks.calibration import calibration_metrics, reliability
from ...tasks.decisions import decide
from ...tasks.definitions import metric_title
from ...tasks.metrics import confusion, per_class_report, task_metrics
from ...tasks.thresholds import as_mapping
from ..balance import aux_metrics

if TYPE_CHECKING:
    from ..context import TrainingContext


class TestReport(Callback):
    """With a labelled test table (main process): ``ctx.test_predictions``, ``ctx.test_metrics`` (the task's
    metrics, per-class report, calibration and, with several inputs, the reliance on each) and
    plots/confusion_matrix.png (multiclass, binary) or per_label_f1.png, reliability.png and reliance.png."""

    name = "test_report"
    stage = "finish"
    stage_order = 30

    def on_fit_end(self, ctx: TrainingContext, result: Any) -> None:
        test = ctx.pipeline.tables.get("test")
        if not ctx.is_main or test is None or test.labels is None:
            return
        size = ctx.train.eval_batch_size or 4 * ctx.train.batch_size
        with ctx.reporter.task("testing", ctx.pipeline.num_batches("test", size)) as advance:
            found = ctx.test_predictions = ctx.engine.predict(ctx.pipeline.batches("test", size), advance=advance,
                                                              drift=ctx.drift, explain=len(ctx.model.modalities) > 1)
        task, names, thresholds, plots = ctx.task, ctx.labels, ctx.thresholds, ctx.paths.plots
        metrics = task_metrics(task, found.labels, found.probabilities, thresholds)
        y_hat = decide(task, found.probabilities, thresholds)
        per_class = per_class_report(found.labels, y_hat, names)
        if task == "multilabel":
            per_label_f1_plot(per_class, names, plots / "per_label_f1.png", title="Test F1 per label")
        else:
            confusion_matrix_plot(confusion(found.labels, y_hat, len(names)), names, plots / "confusion_matrix.png",
                                  title="Test confusion matrix")
        calibration = calibration_metrics(task, found.labels, found.probabilities)
        reliability_plot(reliability(task, found.labels, found.probabilities), calibration, plots / "reliability.png",
                         title="Test reliability")
        ctx.reporter.log(f"test: {_shown(metrics)} ({len(found.labels)} rows); ECE {calibration['ece']:.4f}")
        extra = {"thresholds": as_mapping(task, names, thresholds)} if thresholds is not None else {}
        if found.aux_logits is not None:  # train.aux_unimodal: each head on the rows that have its input
            scores = {m: ctx.engine.scores(torch.from_numpy(v)).numpy() for m, v in found.aux_logits.items()}
            extra["aux"] = aux_metrics(task, found.labels, scores, found.present)
            ctx.reporter.log("test, unimodal heads: " + "; ".join(f"{m} {_shown(v)}" for m, v in extra["aux"].items()))
        extra["calibration"] = calibration
        if found.attribution is not None:
            extra["reliance"] = reliance(found.attribution, task, found.probabilities, names, thresholds,
                                         ctx.engine.centred)
            reliance_plot(extra["reliance"], plots / "reliance.png", title="Test: reliance on each input")
            ctx.reporter.log("test, reliance on each input: " + ", ".join(
                f"{m} {v:.0%}" for m, v in extra["reliance"]["share"].items()))
        if found.drift:
            extra["drift"] = [d.as_dict() for d in drift_report(found.drift, ctx.drift or {}, ctx.reporter.warn)]
        ctx.test_metrics = {**metrics, "rows": int(len(found.labels)), **extra, "per_class": per_class}


def _shown(metrics: dict[str, float]) -> str:
    return ", ".join(f"{metric_title(k)} {v:.4f}" for k, v in metrics.items())


class Summary(Callback):
    """summary.json: device, precision, parameters, data counts, best epoch, the last row, test metrics, timings."""

    name = "summary"
    stage = "finish"
    stage_order = 40

    def on_fit_end(self, ctx: TrainingContext, result: Any) -> None:
        rows, pipeline = summarize(ctx.model), ctx.pipeline
        ctx.summary = {
            "run_dir": str(ctx.paths.root),
            "device": str(ctx.device),
            "precision": ctx.precision.name,
            "precision_reason": ctx.precision.reason,
            "task": ctx.task,
            "num_classes": len(pipeline.labels),
            **({"thresholds": as_mapping(ctx.task, ctx.labels, ctx.thresholds)} if ctx.thresholds is not None else {}),
            "parameters": sum(r.parameters for r in rows),
            "trainable_parameters": sum(r.trainable for r in rows),
            "components": [r.as_dict() for r in rows],
            "data": {split: {"rows": len(t), "present": t.counts(),
                             "bad_values_as_absent": {m: len(v) for m, v in t.bad.items()}}
                     for split, t in pipeline.tables.items()},
            "cached_modalities": sorted({m for c in pipeline.cached.values() for m in c}),
            "encoded_now": pipeline.computed,
            "prepare_seconds": round(ctx.timings.get("prepare_seconds", 0.0), 2),
            "threads": int(ctx.timings["threads"]) if "threads" in ctx.timings else None,  # the first epoch's
            "threads_per_epoch": ctx.threads_per_epoch or None,
            "compiled": ctx.train.compile,
            "epochs_run": len(ctx.history),
            "train_seconds": round(sum(row["seconds"] for row in ctx.history), 2),
            "best_epoch": ctx.best_epoch,
            **({"aux_mixture": ctx.model.aux.mixture_weights()} if ctx.model.aux is not None
               and ctx.model.aux.mixture is not None else {}),
            "monitor": ctx.train.monitor,
            "best_metric": ctx.best,
            "final": ctx.history[-1] if ctx.history else None,
            "test": ctx.test_metrics,
            "notes": ctx.notes,
            "total_seconds": round(time.perf_counter() - ctx.timings.get("started", time.perf_counter()), 2),
        }
        if ctx.is_main:
            write_json_atomic(ctx.paths.summary, ctx.summary)
            ctx.reporter.log(f"run written to {ctx.paths.root}")
        ctx.dist.barrier()
