"""After training: each input's drift reference (:mod:`mmfusion.inference.drift`), from the best model's pooled
vectors of a sample of the training rows, kept in the run's drift.safetensors for evaluate and predict; with
``train.quality_gate``, also the gate's thresholds, written into the model's weights
(:mod:`mmfusion.model.quality_gate`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ...inference.drift import (
    MIN_RANGE_REFERENCE,
    MIN_VECTORS,
    RANGE_QUANTILE,
    InputReference,
    fit_reference,
    write_references,
)
from ...interfaces.callback import Callback
from ...model.quality_gate import QualityGate
from ...run.frozen import load_weights, write_weights
from ...spec.balance_spec import QualityGateSpec
from .checkpointing import frozen_references

if TYPE_CHECKING:
    from ..context import TrainingContext


class DriftReference(Callback):
    """``train.drift`` or ``train.quality_gate`` (main process fits, every process gets the gate): after the best
    weights are back, before the test report that uses them."""

    name = "drift_reference"
    stage = "finish"
    stage_order = 25

    def on_fit_end(self, ctx: TrainingContext, result: Any) -> None:
        gate: QualityGate | None = getattr(ctx.model, "gate", None)
        if ctx.is_main:
            self._fit(ctx, gate)
        if gate is not None:
            ctx.dist.barrier()  # rank 0 has written the gated weights
            if not ctx.is_main and ctx.paths.weights.exists():
                load_weights(ctx.model, ctx.paths.weights)

    def _fit(self, ctx: TrainingContext, gate: QualityGate | None) -> None:
        setting, table = ctx.train.drift, ctx.pipeline.tables.get("train")
        wanted = gate is not None or setting is True or (setting == "auto" and not ctx.pipeline.live)
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
                             "finite vectors" + (" (the quality gate never drops it)" if gate is not None else ""))
        ctx.drift = {m: r for m, r in references.items() if r is not None}
        if ctx.drift:
            write_references(ctx.paths.drift, ctx.drift)
        if gate is not None and isinstance(ctx.train.quality_gate, QualityGateSpec):
            skipped = fit_gate(gate, ctx.drift, ctx.train.quality_gate.factor)
            if ctx.paths.weights.exists():
                write_weights(ctx.paths.weights, ctx.model, frozen_references(ctx))
            ctx.reporter.log("quality gate: " + ", ".join(
                [f"{m} beyond {float(g.threshold):.3g}" for m, g in gate.inputs.items()
                 if g.active] +
                [f"{m} never dropped (its reference has {n} distances, fewer than {MIN_RANGE_REFERENCE}: too few "
                 "distinct training values for a range)" for m, n in skipped.items()]))


def fit_gate(gate: QualityGate, references: Mapping[str, InputReference], factor: float) -> dict[str, int]:
    """Each referenced input's gate: its summary, and ``factor`` × its reference's 99th percentile as threshold.
    Inputs without a reference, or with fewer than :data:`MIN_RANGE_REFERENCE` reference distances (a 99th
    percentile of a handful of values is their maximum, and moves with the seed), keep :data:`NEVER`: never
    dropped. Returns those left out for too few distances, with their count."""
    skipped = {}
    for m, reference in references.items():
        if m not in gate.inputs:
            continue
        if len(reference.reference) < MIN_RANGE_REFERENCE:
            skipped[m] = len(reference.reference)
            continue
        threshold = factor * float(np.quantile(reference.reference, RANGE_QUANTILE))
        gate.inputs[m].set(*(torch.from_numpy(np.asarray(a, dtype=np.float32)) for a in
                             (reference.mean, reference.components, reference.variances)),
                           reference.residual_variance, threshold)
    return skipped
