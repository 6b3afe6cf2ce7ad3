"""The ``csv`` logger: metrics.csv, one row per epoch, rewritten atomically after every epoch (always on)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from ..hookspecs import hookimpl
from ..interfaces.config import LoggerConfig
from ..interfaces.logger import Logger
from ..io import write_text_atomic

#: the columns of the options against modality imbalance (train.aux_unimodal, modulation, modality_dropout)
BALANCE_PREFIXES = ("train_aux_", "val_aux_", "val_fused_", "mixture_", "modulation_", "modality_dropout_")


def columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Epoch, losses, the validation metrics of the run's task (before any row: accuracy and macro-F1), learning
    rate and speed, the per-input columns of the options against modality imbalance when the run uses them, then
    every other key of any row (what callbacks add to the epoch's row), in the order they first appear."""
    from ..tasks.definitions import ALL_METRICS

    first = rows[0] if rows else dict.fromkeys(["val_accuracy", "val_macro_f1"])
    metrics = [key for key in first if key in {f"val_{m}" for m in ALL_METRICS}]
    balance = [key for key in first if key.startswith(BALANCE_PREFIXES)]
    known = ["epoch", "train_loss", "val_loss", *metrics, "lr", "seconds", "train_samples_per_s", *balance]
    added = dict.fromkeys(key for row in rows for key in row if key not in known)
    return known + list(added)


def _cell(value: Any) -> Any:
    """A CSV cell: numbers and text as they are, a list or mapping (a callback's) as JSON."""
    return json.dumps(value) if isinstance(value, (list, tuple, dict)) else value


class CsvLoggerConfig(LoggerConfig):
    type: Literal["csv"] = "csv"


class CsvLogger(Logger):
    """RUN/metrics.csv with the columns of :func:`columns` (empty cells for missing values).

    The whole file is rewritten from the rows so far, so after ``--resume`` it holds exactly the epochs of
    the checkpoint it continued from, even if the process had died between writing it and the checkpoint.
    """

    name = "csv"
    Config = CsvLoggerConfig

    def __init__(self, config: CsvLoggerConfig, run_dir: Path) -> None:
        super().__init__(config, run_dir)
        self.path = self.run_dir / "metrics.csv"
        self.rows: list[dict[str, Any]] = []

    def resume(self, spec: Mapping[str, Any], history: Sequence[Mapping[str, Any]]) -> None:
        self.rows = [dict(row) for row in history]
        self._write()

    def log_metrics(self, epoch: int, metrics: Mapping[str, Any]) -> None:
        self.rows = [row for row in self.rows if row.get("epoch", 0) < epoch] + [{**metrics, "epoch": epoch}]
        self._write()

    @classmethod
    def conformance_history(cls, config: CsvLoggerConfig, run_dir: Path) -> list[dict[str, Any]]:
        """metrics.csv read back: ``epoch`` an int, the other cells numbers (None where empty)."""
        with (Path(run_dir) / "metrics.csv").open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
        return [{key: int(value) if key == "epoch" else float(value) if value else None for key, value in row.items()}
                for row in rows]

    def _write(self) -> None:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns(self.rows))  # None (or a key a row lacks): an empty cell
        writer.writeheader()
        writer.writerows({k: _cell(v) for k, v in row.items()} for row in self.rows)
        write_text_atomic(self.path, buffer.getvalue())


@hookimpl
def mmfusion_loggers() -> list[type]:
    return [CsvLogger]
