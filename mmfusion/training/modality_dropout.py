"""``train.modality_dropout``: drop inputs of training rows at random, per input and on a schedule; and the copies
of rows with fewer inputs that ``keep_full`` and ``train.graceful`` append to a batch.

Unlike ``missing_modality``'s fixed ``modality_dropout`` (inside that fusion), this acts on the presence masks before
any fusion sees them: a model that learned to do without its dominant input also learns the others.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from ..interfaces.encoder import EncoderOutput
from ..model.batch import Batch


def drop_inputs(present: Mapping[str, Tensor], rates: Mapping[str, float], modalities: Sequence[str]
                ) -> dict[str, Tensor]:
    """Drop input ``m`` of each row with probability ``rates[m]``; a row that would lose every input it has keeps one
    of them, chosen uniformly (so the effective rates are slightly below high asked ones)."""
    stacked = torch.stack([present[m] for m in modalities], dim=1)  # [B, M]
    p = torch.tensor([float(rates.get(m, 0.0)) for m in modalities], device=stacked.device)
    kept = stacked & (torch.rand(stacked.shape, device=stacked.device) >= p)
    emptied = ~kept.any(dim=1) & stacked.any(dim=1)
    if emptied.any():
        scores = torch.rand(stacked.shape, device=stacked.device).masked_fill(~stacked, -1.0)
        rescue = torch.nn.functional.one_hot(scores.argmax(dim=1), len(modalities)).bool()
        kept = torch.where(emptied.unsqueeze(1), rescue, kept)
    return {m: kept[:, i] for i, m in enumerate(modalities)}


def with_dropped_copies(batch: Batch, dropped: Mapping[str, Tensor]) -> tuple[Batch, int]:
    """``batch`` followed by a copy of each row that ``dropped`` took an input from, with the dropped presence
    (``keep_full``): every row still trains with all its inputs. Returns the batch and the number of copies."""
    rows = torch.stack([batch.present[m] & ~mask for m, mask in dropped.items()]).any(dim=0).nonzero().squeeze(1)
    return _with_copies(batch, rows, {m: mask[rows] for m, mask in dropped.items()}), len(rows)


def with_subset_copies(batch: Batch, modalities: Sequence[str]) -> tuple[Batch, int]:
    """``batch`` followed by copies of its rows with fewer inputs (``train.graceful``): each input alone and each
    input left out (for up to three inputs, every proper subset), only subsets a row has and each once.
    Returns the batch and the number of copies."""
    stacked = torch.stack([batch.present[m] for m in modalities], dim=1)  # [B, M]
    count = len(modalities)
    eye = torch.eye(count, dtype=torch.bool, device=stacked.device)
    patterns = torch.cat([eye, ~eye]) if count > 2 else eye  # [P, M]
    subsets = stacked.unsqueeze(0) & patterns.unsqueeze(1)  # [P, B, M]
    useful = subsets.any(dim=2) & (subsets != stacked.unsqueeze(0)).any(dim=2)  # non-empty, strictly fewer
    pattern_index, rows = useful.nonzero(as_tuple=True)
    if len(rows) == 0:
        return batch, 0
    masks = subsets[pattern_index, rows]  # [K, M]
    keyed = torch.cat([rows.unsqueeze(1), masks.long()], dim=1)
    unique = torch.unique(keyed, dim=0)  # one copy per row and subset, in row order
    rows, masks = unique[:, 0], unique[:, 1:].bool()
    return _with_copies(batch, rows, {m: masks[:, i] for i, m in enumerate(modalities)}), len(rows)


def _with_copies(batch: Batch, rows: Tensor, present: Mapping[str, Tensor]) -> Batch:
    """``batch`` followed by its ``rows`` again, those with the presence ``present`` (one value per copy)."""
    if len(rows) == 0:
        return batch

    def extend(t: Tensor | None) -> Tensor | None:
        return None if t is None else torch.cat([t, t[rows]])

    return Batch(
        inputs={m: {k: extend(v) for k, v in d.items()} for m, d in batch.inputs.items()},
        present={m: torch.cat([batch.present[m], present[m] if m in present else batch.present[m][rows]])
                 for m in batch.present},
        labels=extend(batch.labels),
        features={m: EncoderOutput(*(extend(t) for t in o)) for m, o in batch.features.items()},
    )
