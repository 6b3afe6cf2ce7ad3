"""After training: temperature scaling fitted on the validation data (``train.calibration``, calibration.json)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ...interfaces.callback import Callback
from ...io import write_json_atomic
from ...tasks.calibration import calibration_metrics, fit_temperature, separated, temperature_keys
from ...tasks.scores import score_name, scores_for

if TYPE_CHECKING:
    from ..context import TrainingContext


class Calibration(Callback):
    """With the best weights restored and ``train.calibration: temperature``: the temperatures that minimise the
    validation loss, written to calibration.json with the validation ECE and Brier score before and after; from
    here on the run's scores (thresholds, the test report, evaluate, predict, exports) are the calibrated ones."""

    name = "calibration"
    stage = "finish"
    stage_order = 26  # after the quality gate is fitted (drift reference, 25): it calibrates the gated model

    def on_fit_end(self, ctx: TrainingContext, result: Any) -> None:
        if ctx.train.calibration is None:
            return
        from ..loop import validation

        val = validation(ctx, tune=False)  # every process takes part under torchrun, and fits the same
        softmax = score_name(ctx.task, ctx.train.loss, ctx.registry) == "softmax"
        temperature = fit_temperature(val.logits, val.labels, task=ctx.task, softmax=softmax)
        keys = temperature_keys(ctx.task, ctx.labels)
        unfit = [k for k, skip in zip(keys, separated(val.logits, val.labels, task=ctx.task, softmax=softmax)) if skip]
        if unfit:
            note = (f"calibration: every validation row is right at any temperature for {', '.join(unfit)}, so none "
                    "can be fitted there (the loss falls without bound as it shrinks): it stays 1")
            ctx.notes.append(note)
            ctx.reporter.warn(note)
        calibrated = scores_for(ctx.task, ctx.train.loss, ctx.registry, temperature)
        ctx.engine.scores, ctx.engine.temperature, ctx.temperature = calibrated, temperature, temperature
        after = calibrated(torch.from_numpy(np.asarray(val.logits))).numpy()
        before, after_metrics = (calibration_metrics(ctx.task, val.labels, s) for s in (val.scores, after))
        shown = ", ".join(f"{k} {t:.3f}" for k, t in zip(keys, temperature))
        ctx.reporter.log(f"calibration: temperature {shown} (validation ECE {before['ece']:.4f} → "
                         f"{after_metrics['ece']:.4f})")
        if ctx.is_main:
            write_json_atomic(ctx.paths.calibration, {
                "method": "temperature", "fitted_on": "validation", "rows": int(len(val.labels)),
                "temperatures": {k: round(t, 6) for k, t in zip(keys, temperature)}, "not_fitted": unfit,
                "validation": {"before": before, "after": after_metrics}})
