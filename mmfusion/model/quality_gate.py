"""``train.quality_gate``: per row, an input whose encoder features lie far beyond the training rows' is treated as
missing, so the fusion answers from the inputs that are left.

A fused model trusts every input it is given. When one input of a row is unlike anything it was trained on (a
picture in another style, a sensor that failed), its features can push the fused answer anywhere, while the other
inputs alone would still answer well. The gate holds each input's drift summary (the training rows' mean,
principal directions and variances, as :mod:`mmfusion.inference.drift` fits it after training) as buffers, so the
weights file carries it and evaluate, predict and export all gate alike. A row's input is dropped when its distance
exceeds its threshold (``factor`` × the training reference's 99th percentile). A row that would lose every input
keeps the one nearest its training range. Until fitted, and for an input without a range, the threshold is
:data:`NEVER` and the gate passes the input (finite, so a weights file never holds an infinity, which reading a run
rejects as divergence).
Combined with ``train.graceful``, dropping an input leaves about what the others give alone.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from ..interfaces.encoder import EncoderOutput

#: principal directions per input the buffers have room for (the drift summary keeps at most as many)
COMPONENTS = 64
#: the threshold of an input the gate never drops: the largest float32, so any finite distance stays below it
NEVER = float(torch.finfo(torch.float32).max)


class InputGate(nn.Module):
    """One input's summary: ``distance(pooled)`` as the drift report computes it, and its threshold."""

    def __init__(self, dim: int, components: int = COMPONENTS) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("components", torch.zeros(components, dim))  # unused rows stay zero
        self.register_buffer("inv_variances", torch.zeros(components))
        self.register_buffer("inv_residual", torch.ones(1))
        self.register_buffer("threshold", torch.full((1,), NEVER))

    def distance(self, pooled: Tensor) -> Tensor:
        """``[B]``: squared Mahalanobis distance per dimension in the principal subspace plus the scaled residual.

        In float64 (float32 on MPS, which has no float64): the smallest variances are many orders of magnitude
        below the largest, and float32's rounding of the residual alone can multiply a distance by ten.
        """
        dtype = torch.float32 if pooled.device.type == "mps" else torch.float64
        centred = pooled.to(dtype) - self.mean.to(dtype)
        components = self.components.to(dtype)
        projected = centred @ components.T
        residual = centred - projected @ components
        inside = (projected * projected * self.inv_variances.to(dtype)).sum(dim=1)
        outside = (residual * residual).sum(dim=1) * self.inv_residual.to(dtype)
        return ((inside + outside) / self.mean.shape[0]).float()

    @property
    def active(self) -> bool:
        """Whether this input can be dropped (fitted with a range)."""
        return bool((self.threshold < NEVER).all())

    def set(self, mean: Tensor, components: Tensor, variances: Tensor, residual_variance: float,
            threshold: float) -> None:
        kept = min(len(components), self.components.shape[0])
        self.mean.copy_(mean)
        self.components.zero_()
        self.components[:kept].copy_(components[:kept])
        self.inv_variances.zero_()
        self.inv_variances[:kept].copy_(1.0 / variances[:kept])
        self.inv_residual.fill_(1.0 / residual_variance)
        self.threshold.fill_(threshold)


class QualityGate(nn.Module):
    """Every input's :class:`InputGate`; ``forward`` gives the presence masks with far-off inputs dropped."""

    def __init__(self, input_dims: Mapping[str, int]) -> None:
        super().__init__()
        self.inputs = nn.ModuleDict({m: InputGate(d) for m, d in sorted(input_dims.items())})

    @property
    def fitted(self) -> bool:
        return any(g.active for g in self.inputs.values())

    def ratios(self, outputs: Mapping[str, EncoderOutput]) -> dict[str, Tensor]:
        """Each input's distance over its threshold per row (above 1: beyond the gate; 0 before fitting)."""
        return {m: gate.distance(outputs[m].pooled) / gate.threshold for m, gate in self.inputs.items()}

    def forward(self, outputs: Mapping[str, EncoderOutput], present: Mapping[str, Tensor]) -> dict[str, Tensor]:
        names = list(self.inputs)
        ratios = self.ratios(outputs)
        stacked = torch.stack([present[m] for m in names], dim=1)  # [B, M]
        ratio = torch.stack([ratios[m] for m in names], dim=1)
        ratio = torch.where(torch.isnan(ratio), torch.full_like(ratio, float("inf")), ratio)
        kept = stacked & (ratio <= 1)
        # a row left with none of its inputs keeps the one nearest its training range
        nearest = torch.nn.functional.one_hot(ratio.masked_fill(~stacked, float("inf")).argmin(dim=1),
                                              len(names)).bool()
        emptied = (~kept.any(dim=1) & stacked.any(dim=1)).unsqueeze(1)
        kept = (kept & ~emptied) | (nearest & stacked & emptied)
        gated = dict(present)
        gated.update({m: kept[:, i] for i, m in enumerate(names)})
        return gated
