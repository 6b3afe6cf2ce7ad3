"""Interrupting a fit after a checkpoint, as a crash or Ctrl-C would, so that tests can ``--resume`` it."""

from __future__ import annotations

from typing import Any

from mmfusion import Callback, FitState, TrainingInterrupted


class StopAfterEpochs(Callback):
    """Raises :class:`TrainingInterrupted` after epoch ``epochs``, once it is checkpointed (stage ``after``, past
    the checkpoint), unless that is the last epoch."""

    stage = "after"
    stage_order = 100

    def __init__(self, epochs: int) -> None:
        super().__init__()
        self.epochs = epochs

    def on_epoch_end(self, ctx: FitState, row: dict[str, Any]) -> None:
        if self.epochs <= row["epoch"] < ctx.train.epochs:
            raise TrainingInterrupted(f"stopped after epoch {row['epoch']} as asked; continue with --resume")
