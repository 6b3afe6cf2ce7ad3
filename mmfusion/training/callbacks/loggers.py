"""Driving the ``train.loggers`` (metrics.csv, TensorBoard, MLflow, plugins) from the loop, in the main process."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...interfaces.callback import Callback
from ...interfaces.logger import Logger
from ...registry import get_registry
from ..context import TrainingInterrupted
from .base import plugin_call

if TYPE_CHECKING:
    from ..context import TrainingContext


class Loggers(Callback):
    """Builds the loggers at fit start; sends them the spec, each epoch's row, the final report; closes them. A
    logger's own failure names it (``train.loggers: logger 'mlflow' failed in log_metrics: ...``)."""

    name = "loggers"
    stage = "after"

    def __init__(self) -> None:
        super().__init__()
        self.loggers: list[Logger] = []

    def _call(self, logger: Logger, method: str, *args: Any, **kwargs: Any) -> None:
        plugin_call(f"train.loggers: logger '{logger.name}'", f"failed in {method}", getattr(logger, method), *args,
                    **kwargs)

    def on_fit_start(self, ctx: TrainingContext) -> None:
        if not ctx.is_main:
            return
        registry = ctx.registry or get_registry()
        for config in ctx.train.loggers:
            cls = registry.get("logger", config.component_name)
            self.loggers.append(plugin_call(f"train.loggers: logger '{config.type}'", "could not be built", cls, config,
                                            ctx.paths.root))
        spec = ctx.spec.model_dump(mode="json")
        for logger in self.loggers:
            if ctx.resume:
                self._call(logger, "resume", spec, list(ctx.history))
            else:
                self._call(logger, "log_config", spec)

    def on_epoch_end(self, ctx: TrainingContext, row: dict[str, Any]) -> None:
        for logger in self.loggers:
            self._call(logger, "log_metrics", row["epoch"], dict(row))

    def on_fit_end(self, ctx: TrainingContext, result: Any) -> None:
        for logger in self.loggers:
            self._call(logger, "log_report", ctx.summary)
        self._close(failed=False)

    def on_exception(self, ctx: TrainingContext, error: BaseException) -> None:
        self._close(failed=not isinstance(error, TrainingInterrupted))

    def _close(self, failed: bool) -> None:
        loggers, self.loggers = self.loggers, []
        errors = []
        for logger in loggers:  # every logger closes, even when one fails to
            try:
                self._call(logger, "close", failed=failed)
            except Exception as exc:  # noqa: BLE001 - raised below, after the others closed
                errors.append(exc)
        if errors:
            raise errors[0]
