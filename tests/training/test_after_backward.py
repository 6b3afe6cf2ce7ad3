"""``on_after_backward``: once per optimiser step, on the summed gradients before clipping; keys a callback adds
to the epoch's row reach metrics.csv."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import pytest
import torch

from mmfusion import Callback
from mmfusion.api import fit

from ..conftest import xor_spec

CLIP = 1e-3


class GradientWatch(Callback):
    def __init__(self) -> None:
        super().__init__()
        self.steps: list[int] = []
        self.batches: list[int] = []
        self.norms: list[float] = []
        self.cleared_after_step: list[bool] = []

    def on_epoch_start(self, ctx: Any) -> None:
        self.steps.append(0)
        self.batches.append(0)

    def on_after_backward(self, ctx: Any, batch: int) -> None:
        grads = [p.grad for p in ctx.model.parameters() if p.requires_grad and p.grad is not None]
        assert grads, "no gradient to read"
        self.norms.append(float(torch.stack([g.norm() for g in grads]).norm()))
        self.steps[-1] += 1

    def on_batch_end(self, ctx: Any, batch: int, loss: float) -> None:
        self.batches[-1] += 1
        if batch % 2 == 1:  # the second batch of each group of 2 ends a step: gradients cleared by now
            self.cleared_after_step.append(all(p.grad is None for p in ctx.model.parameters()))

    def on_epoch_end(self, ctx: Any, row: dict[str, Any]) -> None:
        row["grad_norm_max"] = max(self.norms)
        row["watch_note"] = {"steps": self.steps[-1]}


@pytest.mark.slow
def test_the_hook_sees_each_steps_gradients_before_clipping(xor_data: Path, tiny_bert: Path, feature_cache: Path,
                                                            tmp_path: Path) -> None:
    spec = xor_spec(tmp_path, xor_data, tiny_bert, feature_cache, epochs=2,
                    extra=f"  grad_accum_steps: 2\n  clip_grad_norm: {CLIP}\n")
    watch = GradientWatch()
    result = fit(spec, out=tmp_path / "run", callbacks=[watch])
    assert watch.steps == [math.ceil(b / 2) for b in watch.batches] and watch.batches[0] > 2
    assert min(watch.norms) > 10 * CLIP  # before clipping: clipping would leave at most CLIP
    assert watch.cleared_after_step and all(watch.cleared_after_step)
    with (result.run.paths.root / "metrics.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [float(r["grad_norm_max"]) for r in rows] == pytest.approx([h["grad_norm_max"] for h in result.history])
    assert rows[0]["watch_note"] == f'{{"steps": {watch.steps[0]}}}'  # a mapping is written as JSON
