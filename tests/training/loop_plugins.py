"""A plugin providing one component of each training kind, each recording how the loop used it.

Registered in-process (``load_registry(extra=[loop_plugins])``), exactly as an installed plugin's module.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import torch
from torch.nn import functional

from mmfusion import Callback, CallbackConfig, Logger, LoggerConfig, Loss, LossConfig, hookimpl

# ----- a loss: twice the cross-entropy, remembering every call ------------------------------------------------


class DoubleCEConfig(LossConfig):
    type: Literal["double_ce"] = "double_ce"


class DoubleCE(Loss):
    """2 × cross-entropy; ``calls`` holds (value, cross-entropy, rows, validating) for every call."""

    name = "double_ce"
    Config = DoubleCEConfig
    tasks = ("multiclass",)

    def __init__(self, config: DoubleCEConfig, num_classes: int, class_weights: torch.Tensor | None = None) -> None:
        super().__init__(config, num_classes, class_weights)
        self.calls: list[tuple[float, float, int, bool]] = []

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        ce = functional.cross_entropy(logits, targets)
        value = 2 * ce
        self.calls.append((float(value.detach()), float(ce.detach()), len(targets), torch.is_inference_mode_enabled()))
        return value


# ----- a callback: the hooks it saw, a stop on request, state across --resume -----------------------------------


class RecorderConfig(CallbackConfig):
    type: Literal["recorder"] = "recorder"
    stop_after: int | None = None


class Recorder(Callback):
    """Records hooks in order (batch ends counted per epoch); checks train/val loss against the loss's calls."""

    name = "recorder"
    Config = RecorderConfig
    instances: list[Recorder] = []

    def __init__(self, config: RecorderConfig | None = None) -> None:
        super().__init__(config or RecorderConfig())
        Recorder.instances.append(self)
        self.seen: list[str] = []
        self.batches: dict[int, int] = {}
        self.epochs_seen = 0
        self.restored: Mapping[str, Any] | None = None
        self.loss_checks: list[dict[str, float]] = []
        self.result: Any = None
        self._first_call = 0

    def on_fit_start(self, ctx: Any) -> None:
        self.seen.append("fit_start")

    def on_epoch_start(self, ctx: Any) -> None:
        self.seen.append(f"epoch_start {ctx.epoch}")
        self._first_call = len(getattr(ctx.loss, "calls", []))

    def on_batch_end(self, ctx: Any, batch: int, loss: float) -> None:
        self.batches[ctx.epoch] = self.batches.get(ctx.epoch, 0) + 1

    def on_validation_end(self, ctx: Any, row: dict[str, Any]) -> None:
        self.seen.append(f"validation_end {row['epoch']}")

    def on_epoch_end(self, ctx: Any, row: dict[str, Any]) -> None:
        self.seen.append(f"epoch_end {row['epoch']}")
        self.epochs_seen += 1
        calls = getattr(ctx.loss, "calls", [])[self._first_call:]
        if calls:
            train = [c for c in calls if not c[3]]
            val = [c for c in calls if c[3]]
            self.loss_checks.append({
                "train_loss": row["train_loss"],
                "train_mean": sum(c[0] * c[2] for c in train) / sum(c[2] for c in train),
                "val_loss": row["val_loss"],
                "val_mean": sum(c[0] * c[2] for c in val) / sum(c[2] for c in val),
                "worst_ratio_error": max(abs(c[0] - 2 * c[1]) for c in calls),
            })
        if self.config.stop_after is not None and row["epoch"] >= self.config.stop_after:
            ctx.request_stop(f"recorder: stop after epoch {row['epoch']}")

    def on_fit_end(self, ctx: Any, result: Any) -> None:
        self.seen.append("fit_end")
        self.result = result

    def on_exception(self, ctx: Any, error: BaseException) -> None:
        self.seen.append(f"exception {type(error).__name__}")

    def state_dict(self) -> Mapping[str, Any]:
        return {"epochs_seen": self.epochs_seen}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.restored = dict(state)
        self.epochs_seen = state["epochs_seen"]


class Explodes(Callback):
    """A plugin callback with a bug: its error must name it."""

    name = "explodes"

    class Config(CallbackConfig):
        type: Literal["explodes"] = "explodes"

    def on_epoch_end(self, ctx: Any, row: dict[str, Any]) -> None:
        raise ZeroDivisionError("division by zero")


# ----- a logger: what it was sent ---------------------------------------------------------------------------------


class MemoryLoggerConfig(LoggerConfig):
    type: Literal["memory"] = "memory"


class MemoryLogger(Logger):
    """Keeps what it receives in ``MemoryLogger.instances[-1]`` (the test reads it back)."""

    name = "memory"
    Config = MemoryLoggerConfig
    instances: list[MemoryLogger] = []

    def __init__(self, config: MemoryLoggerConfig, run_dir: Path) -> None:
        super().__init__(config, run_dir)
        self.config_logged: Mapping[str, Any] | None = None
        self.resumed_after: list[int] | None = None
        self.metrics: dict[int, dict[str, Any]] = {}
        self.report: Mapping[str, Any] | None = None
        self.closed: bool | None = None  # the ``failed`` flag once closed
        MemoryLogger.instances.append(self)

    def log_config(self, spec: Mapping[str, Any]) -> None:
        self.config_logged = spec

    def resume(self, spec: Mapping[str, Any], history: Sequence[Mapping[str, Any]]) -> None:
        self.resumed_after = [row["epoch"] for row in history]

    def log_metrics(self, epoch: int, metrics: Mapping[str, Any]) -> None:
        self.metrics[epoch] = dict(metrics)

    def log_report(self, report: Mapping[str, Any]) -> None:
        self.report = report

    def close(self, failed: bool = False) -> None:
        self.closed = failed


@hookimpl
def mmfusion_losses() -> list[type]:
    return [DoubleCE]


@hookimpl
def mmfusion_callbacks() -> list[type]:
    return [Recorder, Explodes]


@hookimpl
def mmfusion_loggers() -> list[type]:
    return [MemoryLogger]
