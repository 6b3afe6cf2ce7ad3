"""The training loop's own steps, registered as always-on callbacks through the hook third parties use.

They have no ``Config``: a spec does not name them, every fit runs them, each at the ``stage`` and ``stage_order``
its class declares (:class:`mmfusion.Callback`).
"""

from __future__ import annotations

from ..hookspecs import hookimpl
from ..training.callbacks import (
    BestWeightsRestore,
    Checkpoint,
    EarlyStopping,
    Loggers,
    Progress,
    Resume,
    Summary,
    TestReport,
    Thresholds,
    TrainingCurves,
)


@hookimpl
def mmfusion_callbacks() -> list[type]:
    return [Resume, Progress, EarlyStopping, Loggers, Checkpoint, TrainingCurves, BestWeightsRestore, Thresholds,
            TestReport, Summary]
