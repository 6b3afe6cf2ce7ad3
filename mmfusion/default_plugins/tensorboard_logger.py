"""The ``tensorboard`` logger: per-epoch scalars, the spec and the final report as TensorBoard event files.

Needs the ``tensorboard`` package (``pip install 'mmfusion[loggers]'``); it is imported only when a run
asks for this logger.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from ..errors import MMFusionError
from ..hookspecs import hookimpl
from ..interfaces.config import LoggerConfig
from ..interfaces.logger import Logger


def numbers(values: Mapping[str, Any]) -> dict[str, float]:
    """The finite numeric entries of ``values`` (not booleans)."""
    return {key: float(value) for key, value in values.items()
            if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)}


class TensorBoardConfig(LoggerConfig):
    type: Literal["tensorboard"] = "tensorboard"
    log_dir: str | None = Field(None, description="Folder of the event files (default: RUN/tensorboard).")


class TensorBoardLogger(Logger):
    """Scalars ``train_loss``, ``val_loss``, ``val_accuracy``, ``val_macro_f1``, ``lr``, ... at step = epoch; the
    spec as text ``spec``; the final report as text ``report`` and scalars ``test/accuracy``, ``test/macro_f1``."""

    name = "tensorboard"
    Config = TensorBoardConfig

    def __init__(self, config: TensorBoardConfig, run_dir: Path) -> None:
        super().__init__(config, run_dir)
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise MMFusionError("train.loggers: tensorboard needs the tensorboard package: "
                                "pip install tensorboard (or 'mmfusion[loggers]')") from None
        self.log_dir = self.folder(config, self.run_dir)
        self._writer_class = SummaryWriter
        self.writer = SummaryWriter(log_dir=str(self.log_dir))

    @staticmethod
    def folder(config: TensorBoardConfig, run_dir: Path) -> Path:
        return Path(config.log_dir) if config.log_dir else Path(run_dir) / "tensorboard"

    def log_config(self, spec: Mapping[str, Any]) -> None:
        self.writer.add_text("spec", "```\n" + json.dumps(spec, indent=2) + "\n```", global_step=0)

    def resume(self, spec: Mapping[str, Any], history: Sequence[Mapping[str, Any]]) -> None:
        """Epochs logged after the checkpoint resumed from (a crash in between) are purged: TensorBoard hides
        every event from ``purge_step`` on, so each epoch shows once, as trained after the resume."""
        last = history[-1]["epoch"] if history else 0
        self.writer.close()
        self.writer = self._writer_class(log_dir=str(self.log_dir), purge_step=last + 1)
        self.writer.add_text("resumed", f"resumed after epoch {last}", global_step=last)

    def log_metrics(self, epoch: int, metrics: Mapping[str, Any]) -> None:
        for key, value in numbers(metrics).items():
            if key != "epoch":
                self.writer.add_scalar(key, value, global_step=epoch)
        self.writer.flush()

    def log_report(self, report: Mapping[str, Any]) -> None:
        step = int(report.get("epochs_run") or 0)
        test = report.get("test")
        if isinstance(test, Mapping):
            for key, value in numbers(test).items():
                if key != "rows":
                    self.writer.add_scalar(f"test/{key}", value, global_step=step)
        self.writer.add_text("report", "```\n" + json.dumps(report, indent=2, default=str) + "\n```",
                             global_step=step)
        self.writer.flush()

    def close(self, failed: bool = False) -> None:
        self.writer.close()

    @classmethod
    def conformance_history(cls, config: TensorBoardConfig, run_dir: Path) -> list[dict[str, Any]]:
        """One row per ``train_loss`` point as TensorBoard shows them (its reader applies the purges), so an
        epoch logged twice shows twice."""
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

        events = EventAccumulator(str(cls.folder(config, run_dir)), size_guidance={"scalars": 0})
        events.Reload()
        if "train_loss" not in events.Tags()["scalars"]:
            return []
        return [{"epoch": event.step, "train_loss": event.value} for event in events.Scalars("train_loss")]


@hookimpl
def mmfusion_loggers() -> list[type]:
    return [TensorBoardLogger]
