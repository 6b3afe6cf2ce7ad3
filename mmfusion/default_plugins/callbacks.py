"""The training loop's own steps, registered as always-on callbacks through the hook third parties use.

They have no ``Config``: a spec does not name them, every fit runs them, each at the ``stage`` and ``stage_order``
its class declares (:class:`mmfusion.Callback`).
"""

from __future__ import annotations

from ..hookspecs import hookimpl
from ..training import callbacks as loop


@hookimpl
def mmfusion_callbacks() -> list[type]:
    return [loop.Resume, loop.Progress, loop.EarlyStopping, loop.Loggers, loop.Checkpoint, loop.TrainingCurves,
            loop.BestWeightsRestore, loop.DriftReference, loop.Calibration,
            loop.Thresholds, loop.TestReport, loop.Summary]
