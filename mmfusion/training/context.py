"""What the training loop and its callbacks share: the built parts, the loop state, and the result."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ..errors import MMFusionError

if TYPE_CHECKING:
    from ..data.pipeline import DataPipeline
    from ..inference.drift import InputReference
    from ..inference.engine import InferenceEngine, Predictions
    from ..interfaces.loss import Loss
    from ..model.multimodal import MultimodalModel
    from ..progress import Reporter
    from ..registry import Registry
    from ..run.frozen import Reference
    from ..run.layout import RunPaths
    from ..run.load import LoadedRun
    from ..runtime.precision import Precision
    from ..runtime.threads import ThreadChoice
    from ..spec.spec import Spec
    from ..spec.train_spec import TrainSpec
    from .balance import BalancedTraining
    from .callbacks.base import CallbackList
    from .distributed import Distributed


class TrainingInterrupted(MMFusionError):
    """Raised by a callback to stop training after a checkpoint; ``--resume`` continues the run (the loggers close
    as not failed)."""


@dataclass
class FitResult:
    """What :func:`mmfusion.fit` returns: where the run is and how it went."""

    run_dir: Path
    history: list[dict[str, Any]]
    best_epoch: int
    best_metric: float | None
    test_metrics: dict[str, Any] | None
    summary: dict[str, Any] = field(default_factory=dict)
    #: main process: the trained run in memory (best weights), to evaluate or predict without reading it back
    run: LoadedRun | None = None
    #: the test table's predictions behind ``test_metrics`` (an evaluation of the test table reuses them)
    test_predictions: Predictions | None = None


@dataclass(eq=False)
class TrainingContext:
    """The state of one fit, handed to every callback hook: it satisfies :class:`mmfusion.FitState`, the part
    plugin callbacks rely on; the built-in ones read the rest too. ``trained`` is the module the training forward
    runs through (``model`` wrapped in DistributedDataParallel or compiled)."""

    spec: Spec
    paths: RunPaths
    model: MultimodalModel
    pipeline: DataPipeline
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: Any
    loss: Loss
    engine: InferenceEngine
    device: torch.device
    precision: Precision
    reporter: Reporter
    dist: Distributed
    registry: Registry | None = None
    trained: torch.nn.Module | None = None
    resume: bool = False
    has_validation: bool = False
    epoch: int = 0
    next_epoch: int = 1
    history: list[dict[str, Any]] = field(default_factory=list)
    best: float | None = None
    best_epoch: int = 0
    #: epochs since the monitored metric last improved
    stale: int = 0
    should_stop: bool = False
    stop_reason: str | None = None
    test_metrics: dict[str, Any] | None = None
    test_predictions: Predictions | None = None
    #: multilabel and binary: decision thresholds in output order, tuned after training (binary: one)
    thresholds: list[float] | None = None
    #: ``train.calibration: temperature``: the temperatures fitted after training (one, or one per output)
    temperature: list[float] | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: started (perf_counter at the start of fit), prepare_seconds (data and feature cache), threads
    timings: dict[str, float] = field(default_factory=dict)
    callbacks: CallbackList | None = field(default=None, repr=False)
    #: the options against modality imbalance, built by the loop when the spec sets any
    balance: BalancedTraining | None = field(default=None, repr=False)
    #: the loop's CPU thread count (``train.threads``); None on GPUs
    threads: ThreadChoice | None = None
    #: ``threads: auto`` without encoders in the loop: the count each epoch of this fit trained with
    threads_per_epoch: list[int] = field(default_factory=list)
    #: main process: the frozen encoders saved by reference (:mod:`mmfusion.run.frozen`); None until found
    by_reference: dict[str, Reference] | None = field(default=None, repr=False)
    #: main process, after training: each input's drift reference (``train.drift``), kept in drift.safetensors
    drift: dict[str, InputReference] | None = field(default=None, repr=False)

    @property
    def train(self) -> TrainSpec:
        return self.spec.train

    @property
    def run_dir(self) -> Path:
        return self.paths.root

    @property
    def is_main(self) -> bool:
        return self.dist.is_main

    @property
    def labels(self) -> list[str]:
        return self.pipeline.labels.names

    @property
    def task(self) -> str:
        return self.pipeline.labels.task

    @property
    def is_best(self) -> bool:
        return bool(self.history) and self.best_epoch == self.history[-1]["epoch"]

    def request_stop(self, reason: str) -> None:
        self.should_stop = True
        self.stop_reason = self.stop_reason or reason

    def update_best(self, row: dict[str, Any]) -> None:
        """Track the best epoch by ``train.monitor`` (the last epoch when there is no validation data)."""
        cfg = self.train
        min_delta = cfg.early_stopping.min_delta if cfg.early_stopping else 0.0
        value = row[cfg.monitor]
        if not self.has_validation or _better(value, self.best, "min" if cfg.monitor == "val_loss" else "max",
                                              min_delta):
            self.best = value if self.has_validation else None
            self.best_epoch, self.stale = row["epoch"], 0
        else:
            self.stale += 1

    def result(self) -> FitResult:
        return FitResult(self.paths.root, self.history, self.best_epoch, self.best, self.test_metrics, self.summary,
                         test_predictions=self.test_predictions)


def _better(value: float, best: float | None, mode: str, min_delta: float) -> bool:
    """Whether ``value`` improves on ``best``; an undefined value (NaN, e.g. AUROC of validation rows with one
    class) never does, and any defined value improves on an undefined best."""
    if value is None or math.isnan(value):
        return best is None
    if best is None or math.isnan(best):
        return True
    return value > best + min_delta if mode == "max" else value < best - min_delta
