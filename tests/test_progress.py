"""Status lines always; progress bars only on terminals (logs and pipes get no bar residue)."""

from __future__ import annotations

import pytest

from mmfusion.progress import Reporter


def test_piped_output_has_the_lines_and_no_bars(capsys: pytest.CaptureFixture[str]) -> None:
    reporter = Reporter(enabled=True)
    with reporter.live():
        with reporter.task("epochs", 2) as advance:
            reporter.log("epoch 1 | loss 0.5")
            advance(1, info="x")
            with reporter.task("batches", 3) as inner:
                inner(3)
            reporter.log("epoch 2 | loss 0.4")
            advance(1)
    err = capsys.readouterr().err
    assert err.splitlines() == ["epoch 1 | loss 0.5", "epoch 2 | loss 0.4"]


def test_disabled_reporter_is_silent_but_warns(capsys: pytest.CaptureFixture[str]) -> None:
    reporter = Reporter(enabled=False)
    with reporter.task("x", 1) as advance:
        advance()
    reporter.log("nothing")
    with pytest.warns(UserWarning, match="careful"):
        reporter.warn("careful")
    assert capsys.readouterr().err == ""
