"""The training loop's built-in callbacks: everything the loop does besides training and validating.

Registered as always-on callbacks by :mod:`mmfusion.default_plugins.callbacks`; each class declares where it runs
among the ``train.callbacks`` (:attr:`~mmfusion.Callback.stage`, ``stage_order``).
"""

from ...interfaces.callback import Callback
from .base import CallbackList
from .calibration import Calibration
from .checkpointing import BestWeightsRestore, Checkpoint, Resume
from .drift import DriftReference
from .final_report import Summary, TestReport
from .loggers import Loggers
from .progress import Progress, TrainingCurves
from .stopping import EarlyStopping
from .thresholds import Thresholds

__all__ = ["BestWeightsRestore", "Calibration", "Callback", "CallbackList", "Checkpoint", "DriftReference",
           "EarlyStopping", "Loggers", "Progress", "Resume", "Summary", "TestReport", "Thresholds", "TrainingCurves"]
