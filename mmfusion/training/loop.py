"""The epoch loop: train, validate, record the row, and call the callbacks; nothing else (the trainer builds the
parts, callbacks write checkpoints, logs, the test report and the summary)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..errors import SpecError
from ..tasks.definitions import HEADLINE, METRICS
from ..tasks.metrics import task_metrics
from .balance import BalancedTraining, aux_metrics
from .callbacks.base import CallbackList
from .context import TrainingContext
from .distributed import shard, shard_batches
from .mixture import tune_mixture
from .steps import train_epoch


def fit_loop(ctx: TrainingContext, callbacks: CallbackList) -> TrainingContext:
    """Train from ``ctx.next_epoch`` to ``train.epochs`` unless a callback requests a stop; returns ``ctx``. Every
    callback hears ``on_exception`` when anything fails (also Ctrl-C), and the error is raised again."""
    ctx.callbacks = callbacks
    if not ctx.has_validation:
        ctx.reporter.warn("no validation data: the last epoch's weights are kept and early stopping is off")
    aux = ctx.train.aux_unimodal
    if aux is not None and aux.inference == "mixture" and not ctx.has_validation:
        raise SpecError("train.aux_unimodal.inference: mixture is tuned on the validation data, but the data has no "
                        "labelled validation split: add one (data.split.validation or a validation table), or use "
                        "inference: fused")
    if ctx.train.calibration is not None and not ctx.has_validation:
        raise SpecError(f"train.calibration: {ctx.train.calibration} is fitted on the validation data, but the data "
                        "has no labelled validation split: add one (data.split.validation or a validation table), or "
                        "leave train.calibration out")
    ctx.balance = BalancedTraining.for_spec(ctx.train, ctx.model, ctx.engine.scores)
    if ctx.balance is not None:
        ctx.balance.attach()
    try:
        callbacks.each("on_fit_start", ctx)
        with ctx.reporter.live():
            for epoch in range(ctx.next_epoch, ctx.train.epochs + 1):
                if _stopped(ctx):
                    break
                ctx.epoch = epoch
                callbacks.each("on_epoch_start", ctx)
                if _stopped(ctx):
                    break
                row = run_epoch(ctx, callbacks)
                callbacks.each("on_epoch_end", ctx, row)
                ctx.dist.barrier()
        _stopped(ctx)
        callbacks.on_fit_end(ctx, ctx.result)
    except BaseException as exc:
        callbacks.on_exception(ctx, exc)
        raise
    finally:
        if ctx.balance is not None:
            ctx.balance.detach()
    return ctx


def _stopped(ctx: TrainingContext) -> bool:
    """Whether a stop was requested, in any process (all stop together under torchrun); says why, once."""
    if ctx.dist.enabled:
        ctx.should_stop = any(ctx.dist.gather(ctx.should_stop))
    if ctx.should_stop and ctx.stop_reason:
        ctx.reporter.log(ctx.stop_reason)
        ctx.stop_reason = ""
    return ctx.should_stop


def _retune_threads(ctx: TrainingContext) -> None:
    """``threads: auto`` without encoders in the loop: the cores not busy elsewhere now, for this epoch."""
    if ctx.threads is None or not ctx.threads.adaptive:
        return
    if ctx.epoch != ctx.next_epoch:  # the first epoch of this fit keeps the choice made just before it
        choice = ctx.threads.for_epoch()
        if choice.count != torch.get_num_threads():
            ctx.reporter.log(f"threads {torch.get_num_threads()} → {choice.count} ({choice.reason})")
            torch.set_num_threads(choice.count)
        ctx.threads = choice
    ctx.threads_per_epoch.append(ctx.threads.count)


def run_epoch(ctx: TrainingContext, callbacks: CallbackList) -> dict[str, Any]:
    """Train epoch ``ctx.epoch``, validate, append its row to the history and update the best epoch."""
    cfg, pipeline, dist, epoch = ctx.train, ctx.pipeline, ctx.dist, ctx.epoch
    sharding = (lambda order: shard(order, dist)) if dist.enabled else None
    batches = shard_batches(len(pipeline.tables["train"]), cfg.batch_size, dist)
    if ctx.balance is not None:
        ctx.balance.start_epoch(epoch)
    _retune_threads(ctx)
    with ctx.reporter.task(f"epoch {epoch}/{cfg.epochs}", batches) as advance:
        stats = train_epoch(
            ctx.trained if ctx.trained is not None else ctx.model,  # a compiled module has no truth value
            pipeline.batches("train", cfg.batch_size, shuffle=True, train=True, seed=cfg.seed, epoch=epoch,
                             balanced=cfg.imbalance == "balanced_sampler", shard=sharding),
            optimizer=ctx.optimizer, scheduler=ctx.scheduler, scaler=ctx.scaler, loss_fn=ctx.loss,
            autocast=ctx.precision.autocast, device=ctx.device, accumulate=cfg.grad_accum_steps,
            clip=cfg.clip_grad_norm, num_batches=batches, channels_last=ctx.engine.channels_last, advance=advance,
            on_batch_end=callbacks.batch_hook(ctx, "on_batch_end"),
            on_after_backward=callbacks.batch_hook(ctx, "on_after_backward"), balance=ctx.balance)
    loss_sum, samples = dist.sum(stats.loss * stats.samples, stats.samples)
    row: dict[str, Any] = {"epoch": epoch, "train_loss": loss_sum / max(samples, 1), "val_loss": None,
                           **{f"val_{name}": None for name in METRICS[ctx.task]}, "lr": _new_layers_lr(ctx.optimizer),
                           "seconds": round(stats.seconds, 3),
                           "train_samples_per_s": round(samples / stats.seconds, 3) if stats.seconds else None}
    if ctx.balance is not None:
        row.update(ctx.balance.epoch_metrics())
    if ctx.has_validation:
        val = validation(ctx)
        # thresholds are tuned once, after training: epochs are compared at 0.5
        metrics = task_metrics(ctx.task, val.labels, val.scores)
        row.update(val_loss=val.loss, **{f"val_{name}": value for name, value in metrics.items()}, **val.extra)
        callbacks.each("on_validation_end", ctx, row)
    ctx.history.append(row)
    ctx.update_best(row)
    return row


@dataclass
class Validation:
    """One pass over the validation split: labels, scores and mean loss of the model's predictions, and with
    ``train.aux_unimodal`` the extra history columns (each head's metric, the fused head's, the mixture)."""

    labels: np.ndarray
    scores: np.ndarray
    loss: float
    extra: dict[str, Any] = field(default_factory=dict)
    #: the logits the scores are of (the mixture's with ``inference: mixture``)
    logits: np.ndarray | None = None


def validation(ctx: TrainingContext, *, tune: bool = True) -> Validation:
    """Labels, scores and mean loss on the validation split (each process scores its shard), with the unimodal
    heads' columns; with ``tune`` and ``inference: mixture`` the mixture is tuned first on the whole split (every
    process tunes alike), and the scores and loss are the mixture's."""
    heads = ctx.model.aux
    if tune and heads is not None:
        heads.reset_mixture()
    size = ctx.train.eval_batch_size or 4 * ctx.train.batch_size
    n = len(ctx.pipeline.tables["validation"])
    order = shard(torch.arange(n), ctx.dist)
    with ctx.reporter.task("validating", (len(order) + size - 1) // size) as advance:
        val = ctx.engine.predict(ctx.pipeline.batches("validation", size, order=order), loss=ctx.loss,
                                 advance=advance)
    if not ctx.dist.enabled and heads is None:
        return Validation(val.labels, val.probabilities, val.loss, logits=val.logits)
    labels, logits, aux, present = _whole_split(ctx, order, val)
    if heads is None:
        return Validation(labels, ctx.engine.scores(logits).numpy(), _loss(ctx, logits, labels),
                          logits=logits.numpy())
    headline = HEADLINE[ctx.task]  # val_aux_<input>_<headline>: each unimodal head on the rows with its input
    metrics = aux_metrics(ctx.task, labels, {m: ctx.engine.scores(v).numpy() for m, v in aux.items()},
                          {m: v.numpy() for m, v in present.items()})
    extra = {f"val_aux_{m}_{headline}": metrics.get(m, {}).get(headline) for m in ctx.model.modalities}
    if tune and heads.mixture is not None:
        extra[f"val_fused_{headline}"] = task_metrics(ctx.task, labels, ctx.engine.scores(logits).numpy())[headline]
        weights = tune_mixture(logits, aux, present, labels, task=ctx.task, monitor=ctx.train.monitor,
                               scores=ctx.engine.scores, loss=lambda x, y: ctx.loss(x.to(ctx.device), y.to(ctx.device)))
        heads.mixture.copy_(torch.tensor(weights))
        logits = heads.mix(logits, aux, present)
        extra.update({f"mixture_{k}": v for k, v in heads.mixture_weights().items()})
    return Validation(labels, ctx.engine.scores(logits).numpy(), _loss(ctx, logits, labels), extra,
                      logits=logits.numpy())


def _whole_split(ctx: TrainingContext, order: torch.Tensor, val: Any
                 ) -> tuple[np.ndarray, torch.Tensor, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Labels, logits, unimodal logits and presence of every validation row (gathered under torchrun)."""
    heads = list(val.aux_logits or {})
    parts = [val.labels, val.logits, *(val.aux_logits[m] for m in heads), *(val.present[m] for m in heads)]
    if ctx.dist.enabled:
        pieces = ctx.dist.gather((order.numpy(), parts))
        index = np.concatenate([p[0] for p in pieces])
        # padding repeats a few rows: keep each row once (its last copy), in row order
        last = len(index) - 1 - np.unique(index[::-1], return_index=True)[1]
        parts = [np.concatenate([p[1][i] for p in pieces])[last] for i in range(len(parts))]
    tensors = [torch.from_numpy(p) for p in parts[1:]]
    return parts[0], tensors[0], dict(zip(heads, tensors[1:len(heads) + 1])), dict(zip(heads, tensors[len(heads) + 1:]))


def _loss(ctx: TrainingContext, logits: torch.Tensor, labels: np.ndarray) -> float:
    with torch.inference_mode():
        return float(ctx.loss(logits.to(ctx.device), torch.from_numpy(np.asarray(labels)).to(ctx.device)))


def _new_layers_lr(optimizer: torch.optim.Optimizer) -> float:
    """The learning rate of the new layers (``train.lr``), the one metrics.csv reports; encoders' is scaled alike."""
    groups = optimizer.param_groups
    return next((g["lr"] for g in groups if str(g.get("name", "")).startswith("new")), groups[0]["lr"])
