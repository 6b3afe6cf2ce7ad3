"""The training-callback contract: code that runs at points of the training loop.

A callback sees the fit through :class:`FitState`: what it may read, and the few things it may change. The loop
itself only trains and validates; resuming, checkpoints, early stopping, the loggers, the test report and the
summary are callbacks too, registered through the same ``mmfusion_callbacks`` hook as a plugin's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

from .config import CallbackConfig

if TYPE_CHECKING:
    import torch

    from ..progress import Reporter

Stage = Literal["before", "main", "after", "finish"]
#: the stages in the order their callbacks run (``finish`` callbacks' ``on_fit_end`` runs before all others')
STAGES: tuple[Stage, ...] = ("before", "main", "after", "finish")


class FitState(Protocol):
    """What a callback may read of a fit in progress, and change: a stop request, and at the end the test metrics
    and the summary. Under ``torchrun`` every process runs the callbacks; write files only where ``is_main``."""

    @property
    def spec(self) -> Any:
        """The run's :class:`mmfusion.Spec`, with the task found in the data and the loss and monitor it implies."""

    @property
    def train(self) -> Any:
        """``spec.train``: the training options."""

    @property
    def run_dir(self) -> Path:
        """The run directory being written."""

    @property
    def resume(self) -> bool:
        """Whether this fit continues a run (``--resume``)."""

    @property
    def model(self) -> torch.nn.Module:
        """The model being trained; at ``on_fit_end`` it holds the best epoch's weights."""

    @property
    def labels(self) -> list[str]:
        """The class (or label) names, in output order."""

    @property
    def task(self) -> str:
        """multiclass, multilabel or binary."""

    @property
    def reporter(self) -> Reporter:
        """Status lines: ``reporter.log(message)`` and ``reporter.warn(message)``."""

    @property
    def is_main(self) -> bool:
        """True in the process that writes the run directory (rank 0 under ``torchrun``)."""

    @property
    def epoch(self) -> int:
        """The epoch being trained (the last finished one after the loop)."""

    @property
    def history(self) -> Sequence[dict[str, Any]]:
        """One ``metrics.csv`` row per finished epoch, restored first on ``--resume``."""

    @property
    def best(self) -> float | None:
        """The best value of ``train.monitor`` so far (None without validation data)."""

    @property
    def best_epoch(self) -> int:
        """The epoch whose weights are kept (the last one without validation data)."""

    @property
    def is_best(self) -> bool:
        """Whether the last finished epoch is the best so far."""

    #: after the test report (``on_fit_end``): the test table's metrics, or None without a labelled test table
    test_metrics: dict[str, Any] | None
    #: after the summary (``on_fit_end``): the contents of summary.json
    summary: dict[str, Any]

    def request_stop(self, reason: str) -> None:
        """Train no further epoch (checked after ``on_epoch_start`` and ``on_epoch_end``); ``reason`` is printed
        and the run finishes as usual."""


class Callback:
    """Base class of training callbacks; every hook is a no-op, override the ones you need.

    Built as ``Callback(config)`` from ``train.callbacks``, or passed to ``mmfusion.fit(callbacks=[...])`` as any
    instance; a registered callback without a ``Config`` is built as ``Callback()`` for every fit.

    ``stage`` places the hooks: ``before`` and ``after`` the ``main`` ones (``train.callbacks`` in order, then
    ``fit(callbacks=...)``), and ``finish`` after all of them, except at ``on_fit_end``, where ``finish``
    callbacks (best weights, test report, summary) run first so that the others see the finished run. Within
    a stage, lower ``stage_order`` runs first. The checkpoint runs ``after``, so :meth:`state_dict` (state that
    must survive ``--resume``) is saved as of the end of the epoch; :meth:`load_state_dict` gets it back before
    the ``on_fit_start`` of every callback but the one that resumes.
    """

    name: ClassVar[str] = ""
    Config: ClassVar[type[CallbackConfig] | None] = None
    stage: ClassVar[Stage] = "main"
    stage_order: ClassVar[int] = 0

    def __init__(self, config: CallbackConfig | None = None) -> None:
        self.config = config

    @property
    def state_key(self) -> str:
        """The key of this callback's state in a checkpoint (its name, else its class name)."""
        return self.name or type(self).__name__

    def on_fit_start(self, ctx: FitState) -> None:
        """Before the first epoch (after a resume has restored the history and the callbacks' state)."""

    def on_epoch_start(self, ctx: FitState) -> None:
        """Before epoch ``ctx.epoch`` trains."""

    def on_after_backward(self, ctx: FitState, batch: int) -> None:
        """Before each optimiser step, after the backward pass of its last batch (index within the epoch): every
        trainable parameter of ``ctx.model`` holds its gradient (summed over ``train.grad_accum_steps`` batches,
        averaged across processes under ``torchrun``, unscaled under fp16's grad scaler) before
        ``train.clip_grad_norm`` clips it. For gradient norms and statistics; change gradients here only if you
        mean to. Keep it cheap: it runs on the training path."""

    def on_batch_end(self, ctx: FitState, batch: int, loss: float) -> None:
        """After each training batch (index within the epoch, its loss); a batch that ends an optimiser step has
        had its step and its gradients cleared by then (read them in :meth:`on_after_backward`). Keep it cheap."""

    def on_validation_end(self, ctx: FitState, row: dict[str, Any]) -> None:
        """After validation, with the epoch's row holding ``val_*`` metrics (only with validation data)."""

    def on_epoch_end(self, ctx: FitState, row: dict[str, Any]) -> None:
        """After epoch ``row['epoch']``: its metrics.csv row; ``ctx.is_best`` tells whether it improved."""

    def on_fit_end(self, ctx: FitState, result: Any) -> None:
        """After training: ``result`` is the :class:`mmfusion.FitResult` (test metrics, summary)."""

    def on_exception(self, ctx: FitState, error: BaseException) -> None:
        """Training stopped with ``error`` (also ``TrainingInterrupted`` and Ctrl-C); it is raised again."""

    @classmethod
    def conformance_configs(cls, workdir: Path) -> list[CallbackConfig | None]:
        """Configs for :mod:`mmfusion.testing` (``workdir``: an empty folder); the default is the config's
        defaults, or ``[None]`` for a callback without a ``Config``."""
        return [cls.Config()] if cls.Config is not None else [None]

    def state_dict(self) -> Mapping[str, Any] | None:
        """JSON-ready state to save with each checkpoint (None: nothing to save)."""
        return None

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned, when ``--resume`` continues a run."""
