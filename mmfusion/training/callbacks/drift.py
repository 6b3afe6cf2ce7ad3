"""After training: each input's drift reference (:mod:`mmfusion.inference.drift`), from the best model's pooled
vectors of a sample of the training rows, kept in the run's drift.safetensors for evaluate and predict."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from ...inference.drift import MIN_VECTORS, fit_reference, write_references
from ...interfaces.callback import Callback

if TYPE_CHECKING:
    from ..context import TrainingContext


class DriftReference(Callback):
    """``train.drift`` (main process): after the best weights are back, before the test report that uses it."""

    name = "drift_reference"
    stage = "finish"
    stage_order = 25

    def on_fit_end(self, ctx: TrainingContext, result: Any) -> None:
        setting, table = ctx.train.drift, ctx.pipeline.tables.get("train")
        wanted = setting is True or (setting == "auto" and not ctx.pipeline.live)
        if not ctx.is_main:
            return
        ctx.paths.drift.unlink(missing_ok=True)  # a reference made with other weights (a resumed fit) must not stay
        if not wanted or table is None or len(table) == 0:
            return
        rows = torch.randperm(len(table), generator=torch.Generator().manual_seed(ctx.train.seed))
        rows = rows[:ctx.train.drift_rows]
        size = ctx.train.eval_batch_size or 4 * ctx.train.batch_size
        with ctx.reporter.task("drift reference", (len(rows) + size - 1) // size) as advance:
            found = ctx.engine.predict(ctx.pipeline.batches("train", size, order=rows), pooled=True,
                                       advance=advance)
        references = {m: fit_reference(vectors, seed=ctx.train.seed) for m, vectors in (found.pooled or {}).items()}
        for m in [m for m, r in references.items() if r is None]:
            ctx.reporter.log(f"drift: no reference for input '{m}': fewer than {MIN_VECTORS} distinct training "
                             "finite vectors")
        ctx.drift = {m: r for m, r in references.items() if r is not None}
        if ctx.drift:
            write_references(ctx.paths.drift, ctx.drift)
