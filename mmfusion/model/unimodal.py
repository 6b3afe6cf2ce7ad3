"""Unimodal auxiliary heads (``train.aux_unimodal``): one classifier per input beside the fused head.

Each head reads its input's pooled encoder vector, so it shows how much that input alone predicts
(reported per epoch and in the test report), and its loss trains fine-tuned encoders to be predictive on
their own. With ``inference: mixture`` the model also holds a ``mixture`` buffer (fused weight, then one per
input in sorted order) tuned on validation data after training; in eval mode the model's logits are then
the mixture of the fused and the auxiliary logits, so evaluate, predict and export all agree. Training tunes
the mixture after every epoch's validation (:mod:`mmfusion.training.mixture`), so the best epoch's weights file
holds the mixture that epoch was judged by.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from ..interfaces.encoder import EncoderOutput


class UnimodalHeads(nn.Module):
    """Per input: LayerNorm (encoders' scales differ by orders of magnitude) then Linear to the outputs."""

    def __init__(self, input_dims: Mapping[str, int], num_classes: int, *, mixture: bool = False) -> None:
        super().__init__()
        self.modalities = sorted(input_dims)
        self.heads = nn.ModuleDict({m: nn.Sequential(nn.LayerNorm(input_dims[m]), nn.Linear(input_dims[m],
                                                                                             num_classes))
                                    for m in self.modalities})
        self.mixture: Tensor | None
        if mixture:  # fused only until tuned: a model that was never tuned predicts as without the heads
            self.register_buffer("mixture", torch.tensor([1.0] + [0.0] * len(self.modalities)))
        else:
            self.mixture = None

    def forward(self, outputs: Mapping[str, EncoderOutput]) -> dict[str, Tensor]:
        """Each input's logits ``[B, C]`` (every row; the caller masks rows that lack the input)."""
        return {m: head(outputs[m].pooled) for m, head in self.heads.items()}

    def reset_mixture(self) -> None:
        """Fused logits only (``[1, 0, ...]``), before the mixture is tuned again."""
        if self.mixture is not None:
            self.mixture.copy_(torch.tensor([1.0] + [0.0] * len(self.modalities)))

    def mixture_weights(self) -> dict[str, float]:
        """The mixture by name (``fused``, then each input), or {} without one."""
        return {} if self.mixture is None else dict(zip(["fused", *self.modalities],
                                                        (round(float(v), 6) for v in self.mixture)))

    def mix(self, fused: Tensor, aux: Mapping[str, Tensor], present: Mapping[str, Tensor]) -> Tensor:
        """The tuned mixture of the fused and the auxiliary logits (the fused logits when not mixing)."""
        return fused if self.mixture is None else mix_logits(self.mixture, fused, aux, present, self.modalities)


def mix_logits(weights: Tensor, fused: Tensor, aux: Mapping[str, Tensor], present: Mapping[str, Tensor],
               modalities: list[str]) -> Tensor:
    """``(w_0 fused + Σ_m w_m p_m aux_m) / (w_0 + Σ_m w_m p_m)`` per row, ``p_m`` the row's presence of input m.

    An input a row lacks takes no share; a row left with no weight at all gets the fused logits. With
    ``weights = [1, 0, ...]`` the result equals ``fused`` exactly.
    """
    weights = weights.to(fused.dtype)
    total = weights[0] * fused
    norm = weights[0].expand(fused.shape[0])
    for i, m in enumerate(modalities):
        share = weights[i + 1] * present[m].to(fused.dtype)
        total = total + share.unsqueeze(1) * aux[m].to(fused.dtype)
        norm = norm + share
    has_weight = (norm > 0).unsqueeze(1)
    return torch.where(has_weight, total / norm.clamp(min=torch.finfo(fused.dtype).tiny).unsqueeze(1), fused)
