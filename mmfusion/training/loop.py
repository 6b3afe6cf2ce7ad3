"""The epoch loop: train, validate, record the row, and call the callbacks; nothing else.

Building the model and data, writing the run directory, checkpoints, early stopping, logging, the test
report and the summary all happen outside it (the trainer) or in callbacks (:mod:`.callbacks`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..evaluation.metrics import task_metrics
from ..tasks import METRICS
from .callbacks.base import CallbackList
from .context import TrainingContext
from .distributed import shard
from .steps import train_epoch


def fit_loop(ctx: TrainingContext, callbacks: CallbackList) -> TrainingContext:
    """Train from ``ctx.next_epoch`` to ``train.epochs`` unless a callback requests a stop; returns ``ctx``.

    Every callback hears ``on_exception`` when anything fails (also Ctrl-C), and the error is raised again.
    """
    ctx.callbacks = callbacks
    if not ctx.has_validation:
        ctx.reporter.warn("no validation data: the last epoch's weights are kept and early stopping is off")
    try:
        callbacks.on_fit_start(ctx)
        with ctx.reporter.live():
            for epoch in range(ctx.next_epoch, ctx.train.epochs + 1):
                if _stopped(ctx):
                    break
                ctx.epoch = epoch
                callbacks.on_epoch_start(ctx)
                if _stopped(ctx):
                    break
                row = run_epoch(ctx, callbacks)
                callbacks.on_epoch_end(ctx, row)
                ctx.dist.barrier()
        _stopped(ctx)
        callbacks.on_fit_end(ctx)
    except BaseException as exc:
        callbacks.on_exception(ctx, exc)
        raise
    return ctx


def _stopped(ctx: TrainingContext) -> bool:
    """Whether a stop was requested, in any process (all stop together under torchrun); says why, once."""
    if ctx.dist.enabled:
        ctx.should_stop = any(ctx.dist.gather(ctx.should_stop))
    if ctx.should_stop and ctx.stop_reason:
        ctx.reporter.log(ctx.stop_reason)
        ctx.stop_reason = ""
    return ctx.should_stop


def run_epoch(ctx: TrainingContext, callbacks: CallbackList) -> dict[str, Any]:
    """Train epoch ``ctx.epoch``, validate, append its row to the history and update the best epoch."""
    cfg, pipeline, dist, epoch = ctx.train, ctx.pipeline, ctx.dist, ctx.epoch
    sharding = (lambda order: shard(order, dist)) if dist.enabled else None
    batches = (len(shard(torch.arange(len(pipeline.tables["train"])), dist)) + cfg.batch_size - 1) // cfg.batch_size
    with ctx.reporter.task(f"epoch {epoch}/{cfg.epochs}", batches) as advance:
        stats = train_epoch(
            ctx.trained or ctx.model,
            pipeline.batches("train", cfg.batch_size, shuffle=True, train=True, seed=cfg.seed, epoch=epoch,
                             balanced=cfg.imbalance == "balanced_sampler", shard=sharding),
            optimizer=ctx.optimizer, scheduler=ctx.scheduler, scaler=ctx.scaler, loss_fn=ctx.loss,
            autocast=ctx.precision.autocast, device=ctx.device, accumulate=cfg.grad_accum_steps,
            clip=cfg.clip_grad_norm, num_batches=batches, channels_last=ctx.engine.channels_last, advance=advance,
            on_batch_end=callbacks.batch_hook(ctx))
    loss_sum, samples = dist.sum(stats.loss * stats.samples, stats.samples)
    row: dict[str, Any] = {"epoch": epoch, "train_loss": loss_sum / max(samples, 1), "val_loss": None,
                           **{f"val_{name}": None for name in METRICS[ctx.task]}, "lr": _new_layers_lr(ctx.optimizer),
                           "seconds": round(stats.seconds, 3),
                           "train_samples_per_s": round(samples / stats.seconds, 3) if stats.seconds else None}
    if ctx.has_validation:
        labels, scores, val_loss = validate(ctx)
        # thresholds are tuned once, after training: epochs are compared at 0.5
        metrics = task_metrics(ctx.task, labels, scores)
        row.update(val_loss=val_loss, **{f"val_{name}": value for name, value in metrics.items()})
        callbacks.on_validation_end(ctx, row)
    ctx.history.append(row)
    ctx.update_best(row)
    return row


def validate(ctx: TrainingContext) -> tuple[np.ndarray, np.ndarray, float]:
    """Labels, scores and mean loss on the validation split (each process scores its shard)."""
    size = ctx.train.eval_batch_size or 4 * ctx.train.batch_size
    n = len(ctx.pipeline.tables["validation"])
    order = shard(torch.arange(n), ctx.dist)
    with ctx.reporter.task("validating", (len(order) + size - 1) // size) as advance:
        val = ctx.engine.predict(ctx.pipeline.batches("validation", size, order=order), loss=ctx.loss,
                                 advance=advance)
    if not ctx.dist.enabled:
        return val.labels, val.probabilities, val.loss
    pieces = ctx.dist.gather((order.tolist(), val.labels, val.logits))
    by_index = {}
    for indices, labels, logits in pieces:  # padding repeats a few rows: keep each row once
        for i, index in enumerate(indices):
            by_index[index] = (labels[i], logits[i])
    rows = [by_index[i] for i in range(n)]
    labels = torch.from_numpy(np.array([r[0] for r in rows]))
    logits = torch.from_numpy(np.stack([r[1] for r in rows]))
    with torch.inference_mode():
        loss = float(ctx.loss(logits.to(ctx.device), labels.to(ctx.device)))
        scores = ctx.engine.scores(logits).numpy()
    return labels.numpy(), scores, loss


def _new_layers_lr(optimizer: torch.optim.Optimizer) -> float:
    """The learning rate of the new layers (``train.lr``), the one metrics.csv reports; encoders' is scaled alike."""
    groups = optimizer.param_groups
    return next((g["lr"] for g in groups if str(g.get("name", "")).startswith("new")), groups[0]["lr"])
