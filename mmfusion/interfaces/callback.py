"""The training-callback contract: code that runs at points of the training loop (``train.callbacks``).

The loop itself only trains and validates; checkpoints, early stopping, the metrics history, the test
report and the summary are callbacks too (:mod:`mmfusion.training.callbacks`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from .config import CallbackConfig

if TYPE_CHECKING:
    from ..training.context import FitResult, TrainingContext


class Callback:
    """Base class of training callbacks; every hook is a no-op, override the ones you need.

    A callback from a plugin has a ``name`` and a ``Config`` and is built as ``Callback(config)`` from
    ``train.callbacks``; one passed to ``mmfusion.fit(callbacks=[...])`` is any instance. Hooks run in every
    process under ``torchrun``: write files only where ``ctx.is_main``. To stop training, call
    ``ctx.request_stop(reason)`` (checked after ``on_epoch_start`` and after ``on_epoch_end``).

    State that must survive ``--resume`` (counters, best values) goes in :meth:`state_dict` (JSON-ready);
    the checkpoint of each epoch stores it, and :meth:`load_state_dict` gets it back on resume, before
    ``on_fit_start`` of any callback but the checkpoint's.
    """

    name: ClassVar[str] = ""
    Config: ClassVar[type[CallbackConfig] | None] = None

    def __init__(self, config: CallbackConfig | None = None) -> None:
        self.config = config

    @property
    def state_key(self) -> str:
        """The key of this callback's state in a checkpoint (its name, else its class name)."""
        return self.name or type(self).__name__

    def on_fit_start(self, ctx: TrainingContext) -> None:
        """Before the first epoch (after a resume has restored the loop state)."""

    def on_epoch_start(self, ctx: TrainingContext) -> None:
        """Before epoch ``ctx.epoch`` trains."""

    def on_batch_end(self, ctx: TrainingContext, batch: int, loss: float) -> None:
        """After each training batch (index within the epoch, its loss). Keep it cheap."""

    def on_validation_end(self, ctx: TrainingContext, row: dict[str, Any]) -> None:
        """After validation, with the epoch's row holding ``val_*`` metrics (only with validation data)."""

    def on_epoch_end(self, ctx: TrainingContext, row: dict[str, Any]) -> None:
        """After epoch ``row['epoch']``: its metrics.csv row; ``ctx.is_best`` tells whether it improved."""

    def on_fit_end(self, ctx: TrainingContext, result: FitResult) -> None:
        """After training, once the best weights are restored and the test report and summary are written."""

    def on_exception(self, ctx: TrainingContext, error: BaseException) -> None:
        """Training stopped with ``error`` (also ``TrainingInterrupted`` and Ctrl-C); it is raised again."""

    def state_dict(self) -> Mapping[str, Any] | None:
        """JSON-ready state to save with each checkpoint (None: nothing to save)."""
        return None

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned, when ``--resume`` continues a run."""
