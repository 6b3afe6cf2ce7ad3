"""The metrics-logger contract: where a run's config, per-epoch metrics and final report go (``train.loggers``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from .config import LoggerConfig


class Logger:
    """Base class of loggers: built with ``(config, run_dir)``; every method but :meth:`log_metrics` is optional.

    Training calls, in the main process only: :meth:`log_config` once with the spec (a JSON-ready mapping),
    :meth:`resume` instead of it when ``--resume`` continues a run (with the epochs logged before),
    :meth:`log_metrics` after every epoch, :meth:`log_report` once with the final report (``summary.json``'s
    content, which holds the test metrics), and :meth:`close` at the end, also when training fails or is
    interrupted. Write under ``run_dir`` unless the config names another place.
    """

    name: ClassVar[str]
    Config: ClassVar[type[LoggerConfig]]

    def __init__(self, config: LoggerConfig, run_dir: Path) -> None:
        self.config = config
        self.run_dir = Path(run_dir)

    def log_config(self, spec: Mapping[str, Any]) -> None:
        """The run's spec, at the start of a new run."""

    def resume(self, spec: Mapping[str, Any], history: Sequence[Mapping[str, Any]]) -> None:
        """A ``--resume`` continues the run after ``history`` (the rows of the epochs already trained)."""

    def log_metrics(self, epoch: int, metrics: Mapping[str, Any]) -> None:  # pragma: no cover - abstract
        """One epoch's row: ``train_loss``, ``val_loss``, ``val_accuracy``, ``val_macro_f1``, ``lr``, ...

        Values may be None (no validation data).
        """
        raise NotImplementedError

    def log_report(self, report: Mapping[str, Any]) -> None:
        """The final report (``summary.json``: best epoch, ``test`` metrics, timings, ...)."""

    def close(self, failed: bool = False) -> None:
        """Flush and release files or connections; ``failed`` when training stopped with an error."""
