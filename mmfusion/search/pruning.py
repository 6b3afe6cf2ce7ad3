"""The link from a fit to its Optuna trial: each epoch's validation metric is reported, and a trial the pruner
gives up on stops training (the run still finishes and is written, so a pruned run can be looked at)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ..interfaces.callback import Callback, FitState

#: the trial's user attribute: the epoch after which it was pruned (kept by a retry of the trial)
PRUNED_AT = "pruned_at"


class ReportToTrial(Callback):
    """Reports ``metric`` after every validation and stops the fit when the trial should be pruned."""

    stage = "after"

    def __init__(self, trial: Any, metric: str, on_epoch: Callable[[dict[str, Any]], None] | None = None) -> None:
        super().__init__()
        self.trial, self.metric, self.on_epoch = trial, metric, on_epoch
        self.pruned_at: int | None = None

    @property
    def state_key(self) -> str:
        return "tune-trial"

    def on_validation_end(self, ctx: FitState, row: dict[str, Any]) -> None:
        value = row.get(self.metric)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return
        self.trial.report(float(value), step=int(row["epoch"]))
        if self.on_epoch is not None:
            self.on_epoch(row)
        if self.trial.should_prune():
            self.pruned_at = int(row["epoch"])
            self.trial.set_user_attr(PRUNED_AT, self.pruned_at)
            ctx.request_stop(f"trial {self.trial.number} pruned after epoch {row['epoch']}: its {self.metric} "
                             f"{value:.4f} is behind the other trials'")
