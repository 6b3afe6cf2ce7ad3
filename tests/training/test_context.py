"""The best epoch: an undefined validation metric (AUROC of one class) never beats a defined one."""

from __future__ import annotations

import math

from mmfusion.training.context import _better


def test_an_undefined_metric_never_counts_as_an_improvement() -> None:
    nan = math.nan
    assert _better(nan, None, "max", 0.0)  # the first epoch is the best so far, whatever it scored
    assert _better(0.6, nan, "max", 0.0)  # a defined value replaces an undefined best
    assert not _better(nan, 0.6, "max", 0.0)
    assert _better(0.7, 0.6, "max", 0.0) and not _better(0.7, 0.6, "min", 0.0)
