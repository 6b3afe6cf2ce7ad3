"""Stopping early: when the monitored metric stops improving, or after a set number of epochs (tests, sweeps)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...interfaces.callback import Callback
from ..context import TrainingInterrupted

if TYPE_CHECKING:
    from ..context import TrainingContext


class EarlyStopping(Callback):
    """``train.early_stopping``: no epoch starts once ``train.monitor`` has not improved for ``patience`` epochs.

    The count of epochs without improvement is part of the loop state (``ctx.stale``) and of every checkpoint,
    so a resumed run stops exactly where an uninterrupted one would.
    """

    name = "early_stopping"

    def __init__(self, patience: int) -> None:
        super().__init__()
        self.patience = patience

    def on_epoch_start(self, ctx: TrainingContext) -> None:
        if ctx.stale >= self.patience:
            ctx.request_stop(f"early stopping: {ctx.train.monitor} did not improve for {ctx.stale} epochs")


class StopAfterEpochs(Callback):
    """Raise :class:`TrainingInterrupted` after epoch ``epochs`` (once it is checkpointed): ``--resume`` goes on."""

    name = "stop_after_epochs"

    def __init__(self, epochs: int) -> None:
        super().__init__()
        self.epochs = epochs

    def on_epoch_end(self, ctx: TrainingContext, row: dict[str, Any]) -> None:
        if self.epochs <= row["epoch"] < ctx.train.epochs:
            raise TrainingInterrupted(f"stopped after epoch {row['epoch']} as asked; continue with --resume")
