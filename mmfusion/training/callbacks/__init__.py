"""The training loop's built-in callbacks: everything the loop does besides training and validating.

Registered as always-on callbacks by :mod:`mmfusion.default_plugins.callbacks`; each class declares where it
runs (:attr:`~mmfusion.Callback.stage`, ``stage_order``): :class:`Resume`, :class:`Progress`, :class:`EarlyStopping`
before the ``train.callbacks`` and ``fit(callbacks=...)``; :class:`Loggers` (metrics.csv and the other
``train.loggers``) and :class:`Checkpoint` after them; and at the end :class:`TrainingCurves`,
:class:`BestWeightsRestore`, :class:`Thresholds`, :class:`TestReport` and :class:`Summary`, before every
other callback's ``on_fit_end``.
"""

from ...interfaces.callback import Callback
from .base import CallbackList
from .checkpointing import BestWeightsRestore, Checkpoint, Resume
from .final_report import Summary, TestReport
from .loggers import Loggers
from .progress import Progress, TrainingCurves
from .stopping import EarlyStopping
from .thresholds import Thresholds

__all__ = ["BestWeightsRestore", "Callback", "CallbackList", "Checkpoint", "EarlyStopping", "Loggers", "Progress",
           "Resume", "Summary", "TestReport", "Thresholds", "TrainingCurves"]
