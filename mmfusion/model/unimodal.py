"""Unimodal auxiliary heads (``train.aux_unimodal``): one classifier per input beside the fused head.

Each head reads its input's pooled encoder vector, so it shows how much that input alone predicts
(reported per epoch and in the test report), and its loss trains fine-tuned encoders to be predictive on
their own. With ``inference: mixture`` the model also holds a ``mixture`` buffer (fused weight, then one per
input in sorted order) tuned on validation data after training; in eval mode the model's logits are then
the mixture of the fused and the auxiliary logits, so evaluate, predict and export all agree. Training tunes
the mixture after every epoch's validation (:mod:`mmfusion.training.mixture`), so the best epoch's weights file
holds the mixture that epoch was judged by.

With ``inference: dynamic`` nothing is tuned: each row weights the fused and each present input's logits by their
own confidence, the negative energy ``logsumexp(logits)`` (as in QMF, Zhang et al., ICML 2023, "Provable Dynamic
Fusion for Low-Quality Multimodal Data"), so a head that is unsure of a row counts less in that row. A fitted
quality gate (:mod:`~mmfusion.model.quality_gate`) bounds both: an input it dropped from a row has no share there.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from ..interfaces.encoder import EncoderOutput


class UnimodalHeads(nn.Module):
    """Per input: LayerNorm (encoders' scales differ by orders of magnitude) then Linear to the outputs."""

    def __init__(self, input_dims: Mapping[str, int], num_classes: int, *, mixture: bool = False,
                 dynamic: bool = False) -> None:
        super().__init__()
        self.dynamic = dynamic
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

    @property
    def mixes(self) -> bool:
        """Whether eval-mode logits mix the heads' with the fused ones (``mixture`` or ``dynamic``)."""
        return self.mixture is not None or self.dynamic

    def mix(self, fused: Tensor, aux: Mapping[str, Tensor], present: Mapping[str, Tensor]) -> Tensor:
        """The tuned or dynamic mixture of the fused and the auxiliary logits (the fused logits when not mixing)."""
        if self.dynamic:
            return dynamic_logits(fused, aux, present, self.modalities)
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


#: the weight of a head whose negative energy is at or below zero (it still counts, barely)
MIN_CONFIDENCE = 1e-3


def confidence(logits: Tensor) -> Tensor:
    """``[B]``: a head's confidence in each row, its negative energy ``logsumexp(logits)``, at least
    :data:`MIN_CONFIDENCE`: large when one class stands out, small when every logit is low."""
    return torch.logsumexp(logits.float(), dim=1).clamp(min=MIN_CONFIDENCE)


def dynamic_logits(fused: Tensor, aux: Mapping[str, Tensor], present: Mapping[str, Tensor],
                   modalities: list[str]) -> Tensor:
    """``(c_0 fused + Σ_m c_m p_m aux_m) / (c_0 + Σ_m c_m p_m)`` per row, ``c`` each head's :func:`confidence` in
    that row and ``p_m`` the row's presence of input m: an input a row lacks takes no share."""
    weight = confidence(fused)
    total = weight.unsqueeze(1) * fused.float()
    for m in modalities:
        share = confidence(aux[m]) * present[m].float()
        total = total + share.unsqueeze(1) * aux[m].float()
        weight = weight + share
    return (total / weight.unsqueeze(1)).to(fused.dtype)
