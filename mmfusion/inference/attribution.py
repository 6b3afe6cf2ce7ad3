"""Which input decided: Shapley values of each input's contribution to each row's logits.

A model reads each input's presence mask, so "the model without input i" is the same model with i marked absent
in that row: the value of a set S of inputs (a coalition) is the logits with only S present. An input's Shapley
value averages its marginal contribution v(S ∪ {i}) − v(S) over the coalitions, weighted |S|!(M−|S|−1)!/M!;
the values of a row add up to v(all) − v(none), the logits less those with every input absent (efficiency).
With M ≤ :data:`EXACT_UP_TO` inputs all 2^M coalitions are evaluated (the torch backend reruns only the fusion
and head on the encoders' outputs of one pass); above, ``samples`` random orders of the inputs are walked,
which keeps efficiency exact and estimates each value.

An input a row lacks is absent from every coalition of that row: its value there is exactly 0.

What is explained: multilabel, binary and sigmoid-scored multiclass runs explain each logit (log-odds); softmax
multiclass runs each class's logit less the mean of the row's logits (softmax reads nothing else: a shift shared
by all classes moves no probability), so contributions to class c say how much an input raised c above the rest.
A calibrated run's logits are divided by its temperature first (:func:`tempered`): the explained values are
those of the logits its probabilities are of.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

#: up to this many inputs every coalition is evaluated (16 passes of the fusion and head); above, orders are sampled
EXACT_UP_TO = 4
#: random orders of the inputs walked above EXACT_UP_TO inputs
SAMPLES = 64

#: the logits of the rows with the inputs of a coalition (bit k set: input k of the sorted inputs present)
CoalitionValue = Callable[[int], torch.Tensor]


@dataclass(frozen=True)
class Attribution:
    """Per input, its Shapley value for each row and output ``[N, outputs]``; ``baseline`` the explained logits
    with every input absent; baseline + the sum of the inputs' values = the explained logits of the model."""

    contributions: dict[str, np.ndarray]
    baseline: np.ndarray
    exact: bool

    @property
    def explained(self) -> np.ndarray:
        """The explained logits with every input the row has: baseline + every input's contribution."""
        return self.baseline + sum(self.contributions.values())


def explained_logits(logits: torch.Tensor, centred: bool) -> torch.Tensor:
    """What is explained of the logits: themselves, or (softmax scores) less the row's mean logit."""
    return logits - logits.mean(dim=1, keepdim=True) if centred else logits


def shapley(value: CoalitionValue, count: int, *, samples: int = SAMPLES, seed: int = 0,
            full: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """``[count, B, C]`` Shapley values of ``count`` inputs, the empty coalition's value ``[B, C]``, and whether
    they are exact (every coalition evaluated once) rather than sampled over ``samples`` random orders. ``full``:
    the value of every input together when the caller has it already (one pass fewer)."""
    cache: dict[int, torch.Tensor] = {} if full is None else {(1 << count) - 1: full.double()}

    def v(mask: int) -> torch.Tensor:
        if mask not in cache:
            cache[mask] = value(mask).double()
        return cache[mask]

    if count <= EXACT_UP_TO:
        weights = [math.factorial(s) * math.factorial(count - s - 1) / math.factorial(count) for s in range(count)]
        phi = []
        for i in range(count):
            bit = 1 << i
            terms = [weights[bin(mask).count("1")] * (v(mask | bit) - v(mask))
                     for mask in range(1 << count) if not mask & bit]
            phi.append(torch.stack(terms).sum(dim=0))
        return torch.stack(phi), v(0), True
    generator = torch.Generator().manual_seed(seed)
    total = torch.zeros((count, *v(0).shape), dtype=torch.float64)
    for _ in range(samples):
        mask, before = 0, v(0)
        for i in torch.randperm(count, generator=generator).tolist():
            mask |= 1 << i
            after = v(mask)
            total[i] += after - before
            before = after
    return total / samples, v(0), False


def players(present: dict[str, torch.Tensor]) -> list[str]:
    """The inputs in coalition-bit order (bit k: the k-th), the one order backends and the engine share."""
    return sorted(present)


def coalition_present(present: dict[str, torch.Tensor], inputs: Sequence[str], mask: int) -> dict[str, torch.Tensor]:
    """The presence masks of coalition ``mask``: input k present where bit k is set and the row has it."""
    chosen = dict(present)
    for k, m in enumerate(inputs):
        if not mask >> k & 1:
            chosen[m] = torch.zeros_like(present[m])
    return chosen


def tempered(values: np.ndarray, temperature: Sequence[float] | None) -> np.ndarray:
    """Values in logit units ``[N, outputs]`` divided by a calibrated run's temperature (one, or one per output)."""
    if temperature is None:
        return values
    t = np.asarray(temperature, dtype=np.float64)
    return values / (t if len(t) > 1 else t[0])


def attribute(value: CoalitionValue, inputs: Sequence[str], *, centred: bool, samples: int = SAMPLES,
              logits: torch.Tensor | None = None) -> tuple[dict[str, torch.Tensor], torch.Tensor, bool]:
    """Each input's Shapley values ``[B, C]`` of a batch's explained logits (``centred``: softmax scores), the
    all-absent baseline ``[B, C]`` and whether they are exact; ``logits``: the batch's logits with every input
    it has (its value of the full coalition, not computed again)."""
    full = None if logits is None else explained_logits(logits.float(), centred)
    phi, baseline, exact = shapley(lambda mask: explained_logits(value(mask).float(), centred), len(inputs),
                                   samples=samples, full=full)
    return {m: phi[k] for k, m in enumerate(inputs)}, baseline, exact
