"""Checkpoints for ``--resume`` and the best epoch's weights, both without the frozen encoders saved by reference
(:mod:`mmfusion.run.frozen`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from ...interfaces.callback import Callback
from ...run.checkpoint import load_checkpoint, save_checkpoint
from ...run.frozen import Reference, current, find_references, load_weights, write_weights
from ...runtime.threads import ASKED, ThreadChoice

if TYPE_CHECKING:
    from ..context import TrainingContext


def frozen_references(ctx: TrainingContext) -> dict[str, Reference]:
    """The frozen encoders saved by reference, found once per fit (each is built once more to check it)."""
    if ctx.by_reference is None:
        ctx.by_reference = find_references(ctx.model, registry=ctx.registry, seed=ctx.spec.train.seed)
        for modality, reference in ctx.by_reference.items():
            peft = ctx.model.encoders[modality].peft_type
            what = "is frozen: saved" if peft is None else f"is adapted ({peft}): its adapters saved, its base"
            ctx.reporter.log(f"encoder '{modality}' {what} by reference to {reference.source} "
                             f"({reference.bytes / 1e6:.1f} MB not copied into the run)")
    return ctx.by_reference


class Resume(Callback):
    """With ``--resume``: restores model, optimiser, schedule, scaler, RNGs, loop state and callback states,
    before every other callback's ``on_fit_start`` so that they see the restored history."""

    name = "resume"
    stage = "before"
    stage_order = -1_000_000  # first of all, whatever order a plugin's callback asks for

    def on_fit_start(self, ctx: TrainingContext) -> None:
        if not ctx.resume:
            return
        saved = load_checkpoint(ctx.paths.checkpoints, model=ctx.model, optimizer=ctx.optimizer,
                                scheduler=ctx.scheduler, scaler=ctx.scaler, warn=ctx.reporter.warn)
        ctx.history, ctx.best, ctx.best_epoch = saved["history"], saved["best"], saved["best_epoch"]
        ctx.stale, ctx.epoch, ctx.next_epoch = saved["stale"], saved["epoch"], saved["epoch"] + 1
        if saved["best_epoch"] == saved["epoch"] and ctx.is_main:
            # the checkpointed model is the best one; its weights file may not have been written
            write_weights(ctx.paths.weights, ctx.model, frozen_references(ctx))
        if ctx.callbacks is not None:
            ctx.callbacks.load_state_dicts(saved.get("callbacks") or {})
        _keep_threads(ctx, saved.get("threads"))
        ctx.reporter.log(f"resuming after epoch {saved['epoch']}")


def _keep_threads(ctx: TrainingContext, saved: int | None) -> None:
    """``threads: auto`` chose from how busy the machine was at the start; a resumed fit trains on with the count
    the checkpoint's epochs used, because another count sums in another order and would not resume bit for bit."""
    threads = ctx.threads
    if saved is None or threads is None or threads.adaptive or threads.reason == ASKED or saved == threads.count:
        return
    torch.set_num_threads(saved)
    ctx.threads = ThreadChoice(saved, "as the checkpoint's epochs trained", threads.cores)
    ctx.timings["threads"] = saved
    ctx.reporter.log(f"threads {threads.count} → {saved} (as the checkpoint's epochs trained: resumed bit for bit)")


class Checkpoint(Callback):
    """After every epoch (main process): the full training state, then the weights if the epoch is the best (a
    crash in between leaves a checkpoint whose model is the best one: :class:`Resume` rewrites the weights). It runs
    after the callbacks that observe the epoch, so their ``state_dict()`` is saved as of its end."""

    name = "checkpoint"
    stage = "after"
    stage_order = 10

    def on_epoch_end(self, ctx: TrainingContext, row: dict[str, Any]) -> None:
        if not ctx.is_main:
            return
        states = ctx.callbacks.state_dicts() if ctx.callbacks is not None else {}
        state = {"epoch": row["epoch"], "history": ctx.history, "best": ctx.best, "best_epoch": ctx.best_epoch,
                 "stale": ctx.stale, **({"callbacks": states} if states else {}),
                 **({"threads": ctx.threads.count} if ctx.threads is not None else {})}
        kept = current(ctx.model, frozen_references(ctx))
        save_checkpoint(ctx.paths.checkpoints, model=ctx.model, optimizer=ctx.optimizer, scheduler=ctx.scheduler,
                        scaler=ctx.scaler, trainer_state=state, by_reference={m: r.digest for m, r in kept.items()})
        if ctx.best_epoch == row["epoch"]:
            write_weights(ctx.paths.weights, ctx.model, kept)


class BestWeightsRestore(Callback):
    """At the end: the model gets the best epoch's weights back (every process) for the test report and result."""

    name = "best_weights"
    stage = "finish"
    stage_order = 10

    def on_fit_end(self, ctx: TrainingContext, result: Any) -> None:
        ctx.dist.barrier()  # rank 0 has written the weights
        if ctx.paths.weights.exists():
            load_weights(ctx.model, ctx.paths.weights)  # the frozen encoders it leaves out are the model's own
