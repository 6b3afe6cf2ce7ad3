"""Early stopping: no epoch starts once the monitored metric has stopped improving (``train.early_stopping``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...interfaces.callback import Callback

if TYPE_CHECKING:
    from ..context import TrainingContext


class EarlyStopping(Callback):
    """Requests a stop once ``train.monitor`` has not improved for ``train.early_stopping.patience`` epochs; the
    count (``ctx.stale``) is in every checkpoint, so a resumed run stops where an uninterrupted one would."""

    name = "early_stopping"
    stage = "before"
    stage_order = 20

    def on_epoch_start(self, ctx: TrainingContext) -> None:
        early = ctx.train.early_stopping
        if early is not None and ctx.stale >= early.patience:
            ctx.request_stop(f"early stopping: {ctx.train.monitor} did not improve for {ctx.stale} epochs")
