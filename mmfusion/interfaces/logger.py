"""The metrics-logger contract: where a run's config, per-epoch metrics and final report go (``train.loggers``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from .config import LoggerConfig


class Logger:
    """Base class of loggers: built with ``(config, run_dir)``; every method but :meth:`log_metrics` is optional.

    Training calls them in the main process only, in this order; :meth:`close` also when training fails or is
    interrupted. Write under ``run_dir`` unless the config names another place.
    """

    name: ClassVar[str]
    Config: ClassVar[type[LoggerConfig]]

    def __init__(self, config: LoggerConfig, run_dir: Path) -> None:
        self.config = config
        self.run_dir = Path(run_dir)

    def log_config(self, spec: Mapping[str, Any]) -> None:
        """The run's spec (JSON-ready), at the start of a new run."""

    def resume(self, spec: Mapping[str, Any], history: Sequence[Mapping[str, Any]]) -> None:
        """Instead of :meth:`log_config` when ``--resume`` continues the run after ``history`` (the epochs' rows)."""

    def log_metrics(self, epoch: int, metrics: Mapping[str, Any]) -> None:  # pragma: no cover - abstract
        """One epoch's row: ``train_loss``, ``val_loss``, ``val_macro_f1``, ``lr``, ... (None without validation)."""
        raise NotImplementedError

    def log_report(self, report: Mapping[str, Any]) -> None:
        """The final report (``summary.json``: best epoch, ``test`` metrics, timings, ...), once."""

    def close(self, failed: bool = False) -> None:
        """Flush and release files or connections; ``failed`` when training stopped with an error."""

    @classmethod
    def conformance_configs(cls, workdir: Path) -> list[LoggerConfig]:
        """Configs for :mod:`mmfusion.testing` (``workdir``: an empty folder outside the run directory the kit
        logs into); the default is the config's defaults."""
        return [cls.Config()]

    @classmethod
    def conformance_history(cls, config: LoggerConfig, run_dir: Path) -> list[dict[str, Any]] | None:
        """What the logger holds for ``run_dir``, read back from where it wrote: one dict per epoch logged, in
        order, each with ``epoch`` and the numbers it kept. The kit then checks that a resumed run holds each
        epoch exactly once, with the values logged after the resume. None (the default): the logger cannot be
        read back, and the kit checks only that every event runs."""
        return None
