"""The ``stop_at`` callback: stop training once a metric reaches a target (no epochs spent past the goal)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from ..errors import SpecError
from ..hookspecs import hookimpl
from ..interfaces.callback import Callback, FitState
from ..interfaces.config import CallbackConfig
from ..tasks.definitions import ALL_MONITORS, monitors


class StopAtConfig(CallbackConfig):
    type: Literal["stop_at"] = "stop_at"
    metric: Literal[(*ALL_MONITORS, "train_loss")] = Field(  # type: ignore[valid-type]
        "val_accuracy", description="The metrics.csv column to watch (the task's validation metrics, val_loss or "
        "train_loss).")
    value: float = Field(description="Stop after the first epoch whose metric reaches this (losses: falls to it).")


class StopAt(Callback):
    """Requests a stop after an epoch whose ``metric`` is at least ``value`` (at most, for losses).

    It keeps no state: on ``--resume`` the last finished epoch is checked again, so a stopped run stays stopped.
    """

    name = "stop_at"
    Config = StopAtConfig

    def __init__(self, config: StopAtConfig) -> None:
        super().__init__(config)
        self.metric, self.value = config.metric, config.value

    @classmethod
    def conformance_configs(cls, workdir: Path) -> list[StopAtConfig]:
        """Targets no tiny run reaches: the kit's fits must train every epoch."""
        return [StopAtConfig(metric="val_accuracy", value=2.0), StopAtConfig(metric="train_loss", value=-1.0)]

    def _reached(self, row: dict[str, Any]) -> bool:
        value = row.get(self.metric)
        return value is not None and (value <= self.value if self.metric.endswith("loss") else value >= self.value)

    def on_fit_start(self, ctx: FitState) -> None:
        if self.metric != "train_loss" and self.metric not in monitors(ctx.task):
            raise SpecError(f"train.callbacks: stop_at watches {self.metric}, which {ctx.task} runs do not report; "
                            f"choose one of {', '.join(monitors(ctx.task))} or train_loss")
        if ctx.history and self._reached(ctx.history[-1]):
            ctx.request_stop(f"stop_at: {self.metric} reached {self.value:g} at epoch {ctx.history[-1]['epoch']}")

    def on_epoch_end(self, ctx: FitState, row: dict[str, Any]) -> None:
        if self._reached(row):
            ctx.request_stop(f"stop_at: {self.metric} {row[self.metric]:.4f} reached {self.value:g}")


@hookimpl
def mmfusion_callbacks() -> list[type]:
    return [StopAt]
