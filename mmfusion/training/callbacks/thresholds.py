"""After training: multilabel and binary decision thresholds, tuned on the validation data (thresholds.json)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...interfaces.callback import Callback
from ...io import write_json_atomic
from ...tasks.definitions import uses_thresholds
from ...tasks.thresholds import DEFAULT, OBJECTIVE, as_mapping, tune

if TYPE_CHECKING:
    from ..context import TrainingContext


class Thresholds(Callback):
    """With the best weights restored: thresholds that maximise accuracy (binary) or each label's F1
    (multilabel) on the validation data (0.5 without it, with a note), for the test report, evaluate and predict."""

    name = "thresholds"
    stage = "finish"
    stage_order = 27  # after the gate (25) and the temperature (26): tuned on the scores the run will give

    def on_fit_end(self, ctx: TrainingContext, result: Any) -> None:
        if not uses_thresholds(ctx.task):
            return
        if ctx.has_validation:
            from ..loop import validation

            val = validation(ctx, tune=False)  # every process takes part under torchrun
            ctx.thresholds, source = tune(ctx.task, val.labels, val.scores), "validation"
        else:
            ctx.thresholds = [DEFAULT] * (1 if ctx.task == "binary" else len(ctx.labels))
            source = "none (no validation data)"
            ctx.notes.append("no validation data: decision thresholds are 0.5 (thresholds.json)")
        if ctx.is_main:
            mapping = as_mapping(ctx.task, ctx.labels, ctx.thresholds)
            write_json_atomic(ctx.paths.thresholds, {"task": ctx.task, "tuned_on": source,
                                                     "objective": OBJECTIVE[ctx.task], "thresholds": mapping})
            shown = ", ".join(f"{k} {v:.3f}" for k, v in mapping.items())
            ctx.reporter.log(f"thresholds ({OBJECTIVE[ctx.task]} on {source}): {shown}")
