"""``train.modality_dropout``: drop inputs of training rows at random, per input and on a schedule.

Unlike ``missing_modality``'s fixed ``modality_dropout`` (inside that fusion), this acts on the presence masks
before any fusion sees them, so every fusion trains to predict from fewer inputs: a model that learned to do
without its dominant input also learns the others (see ``mmfusion evaluate``'s robustness table).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor


def drop_inputs(present: Mapping[str, Tensor], rates: Mapping[str, float], modalities: Sequence[str]
                ) -> dict[str, Tensor]:
    """Drop input ``m`` of each row with probability ``rates[m]``; a row keeps at least one input it has.

    A row that would lose every input it has keeps one of them, chosen uniformly, so the effective rates are
    slightly below the asked ones when all rates are high.
    """
    stacked = torch.stack([present[m] for m in modalities], dim=1)  # [B, M]
    p = torch.tensor([float(rates.get(m, 0.0)) for m in modalities], device=stacked.device)
    kept = stacked & (torch.rand(stacked.shape, device=stacked.device) >= p)
    emptied = ~kept.any(dim=1) & stacked.any(dim=1)
    if emptied.any():
        scores = torch.rand(stacked.shape, device=stacked.device).masked_fill(~stacked, -1.0)
        rescue = torch.nn.functional.one_hot(scores.argmax(dim=1), len(modalities)).bool()
        kept = torch.where(emptied.unsqueeze(1), rescue, kept)
    return {m: kept[:, i] for i, m in enumerate(modalities)}
