"""Checkpoints for ``--resume`` and the best epoch's weights: written after every epoch, restored on resume."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...interfaces.callback import Callback
from ...io import write_safetensors_atomic
from ..checkpoint import load_checkpoint, save_checkpoint

if TYPE_CHECKING:
    from ..context import TrainingContext


class Resume(Callback):
    """With ``--resume``: restores model, optimiser, schedule, scaler, RNGs, loop state and callback states.

    It runs before every other callback's ``on_fit_start``, so they see the restored history.
    """

    name = "resume"

    def on_fit_start(self, ctx: TrainingContext) -> None:
        if not ctx.resume:
            return
        saved = load_checkpoint(ctx.paths.checkpoints, model=ctx.model, optimizer=ctx.optimizer,
                                scheduler=ctx.scheduler, scaler=ctx.scaler, warn=ctx.reporter.warn)
        ctx.history, ctx.best, ctx.best_epoch = saved["history"], saved["best"], saved["best_epoch"]
        ctx.stale, ctx.epoch, ctx.next_epoch = saved["stale"], saved["epoch"], saved["epoch"] + 1
        if saved["best_epoch"] == saved["epoch"] and ctx.is_main:
            # the checkpointed model is the best one; its weights file may not have been written
            write_safetensors_atomic(ctx.paths.weights, ctx.model.state_dict())
        if ctx.callbacks is not None:
            ctx.callbacks.load_state_dicts(saved.get("callbacks") or {})
        ctx.reporter.log(f"resuming after epoch {saved['epoch']}")


class Checkpoint(Callback):
    """After every epoch (main process): the full training state, then the weights if the epoch is the best.

    The checkpoint comes first: a crash between the two writes leaves a checkpoint whose model is the best
    one, and :class:`Resume` rewrites the weights from it. It runs after the callbacks that observe the
    epoch, so their ``state_dict()`` is saved as of the end of the epoch.
    """

    name = "checkpoint"

    def on_epoch_end(self, ctx: TrainingContext, row: dict[str, Any]) -> None:
        if not ctx.is_main:
            return
        state: dict[str, Any] = {"epoch": row["epoch"], "history": ctx.history, "best": ctx.best,
                                 "best_epoch": ctx.best_epoch, "stale": ctx.stale}
        states = ctx.callbacks.state_dicts() if ctx.callbacks is not None else {}
        if states:
            state["callbacks"] = states
        save_checkpoint(ctx.paths.checkpoints, model=ctx.model, optimizer=ctx.optimizer, scheduler=ctx.scheduler,
                        scaler=ctx.scaler, trainer_state=state)
        if ctx.best_epoch == row["epoch"]:
            write_safetensors_atomic(ctx.paths.weights, ctx.model.state_dict())


class BestWeightsRestore(Callback):
    """At the end: the model gets the best epoch's weights back (every process) for the test report and result."""

    name = "best_weights"

    def on_fit_end(self, ctx: TrainingContext, result: Any) -> None:
        ctx.dist.barrier()  # rank 0 has written the weights
        if ctx.paths.weights.exists():
            from safetensors.torch import load_file

            ctx.model.load_state_dict(load_file(str(ctx.paths.weights)))
