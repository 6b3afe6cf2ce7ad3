"""The training loop's built-in callbacks: everything the loop does besides training and validating.

In the order they run (see :func:`mmfusion.training.trainer.default_callbacks`): :class:`Resume`,
:class:`Progress`, :class:`EarlyStopping`, then the ``train.callbacks`` and ``fit(callbacks=...)``, then
:class:`Loggers` (metrics.csv and the other ``train.loggers``), :class:`Checkpoint` and
:class:`StopAfterEpochs`; and at the end :class:`TrainingCurves`, :class:`BestWeightsRestore`,
:class:`Thresholds`, :class:`TestReport` and :class:`Summary`, before every other callback's ``on_fit_end``.
"""

from ...interfaces.callback import Callback
from .base import CallbackList
from .checkpointing import BestWeightsRestore, Checkpoint, Resume
from .final_report import Summary, TestReport, write_test_report
from .loggers import Loggers
from .progress import Progress, TrainingCurves
from .stopping import EarlyStopping, StopAfterEpochs
from .thresholds import Thresholds

__all__ = ["BestWeightsRestore", "Callback", "CallbackList", "Checkpoint", "EarlyStopping", "Loggers", "Progress",
           "Resume", "StopAfterEpochs", "Summary", "TestReport", "Thresholds", "TrainingCurves", "write_test_report"]
