"""``train.modulation: {type: ogm_ge}``: on-the-fly gradient modulation (Peng et al., CVPR 2022).

Each batch, every input's contribution is the summed probability of the true class that the model gives with only that
input present: the fusion and head are rerun (without gradients) on the batch's encoder outputs with the other inputs
marked absent. OGM-GE splits a linear fusion's logits by input; this modality-ablated forward works for any fusion,
since every fusion honours the presence masks. The contribution ratio of input m is its score over the mean score of the
others, and while it exceeds 1 the gradients of m's parameters (its fine-tuned encoder and the fusion's per-input
layers, :meth:`~mmfusion.Fusion.modality_parameters`) are scaled by ``1 - tanh(alpha * (ratio - 1))``. With ``noise``
(GE), every modulated gradient also gets Gaussian noise with that gradient's own standard deviation, as in the published
method. Only rows that have every input count.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from ..errors import PluginError
from ..interfaces.encoder import EncoderOutput
from ..model.batch import Batch
from ..model.multimodal import ModelParts, MultimodalModel
from ..spec.balance_spec import ModulationSpec
from ..tasks.scores import Scores


def modulated_parameters(model: MultimodalModel) -> dict[str, list[nn.Parameter]]:
    """Per input: its encoder's trainable parameters and the fusion's trainable per-input parameters (a
    PluginError when the fusion names one parameter for two inputs)."""
    owner: dict[int, str] = {}
    groups: dict[str, list[nn.Parameter]] = {m: [] for m in model.modalities}
    for m in model.modalities:
        for param in [*model.encoders[m].parameters(), *model.fusion.modality_parameters(m)]:
            if not param.requires_grad or owner.get(id(param)) == m:
                continue
            if id(param) in owner:
                raise PluginError(f"fusion '{model.fusion.config.type}' ({type(model.fusion).__qualname__}): "
                                  f"modality_parameters gives one parameter for both '{owner[id(param)]}' and "
                                  f"'{m}'; a parameter that reads several inputs belongs to none")
            owner[id(param)] = m
            groups[m].append(param)
    return groups


def true_class_score(probabilities: Tensor, labels: Tensor) -> Tensor:
    """Per row, the probability given to the truth: the true class's (multiclass, binary), or the mean over
    labels of the probability of each label's true state (multilabel, multi-hot ``labels``)."""
    if labels.is_floating_point():
        y = labels.to(probabilities.dtype)
        return (y * probabilities + (1 - y) * (1 - probabilities)).mean(dim=1)
    return probabilities.gather(1, labels.long().unsqueeze(1)).squeeze(1)


@torch.no_grad()
def contributions(model: MultimodalModel, encoded: dict[str, EncoderOutput], present: dict[str, Tensor],
                  labels: Tensor, scores: Scores) -> dict[str, float]:
    """Each input's summed true-class probability with only that input present, over rows that have them all."""
    detached = {m: EncoderOutput(*(None if t is None else t.detach() for t in out)) for m, out in encoded.items()}
    complete = torch.stack([present[m] for m in model.modalities], dim=1).all(dim=1)
    result = {}
    for m in model.modalities:
        alone = {k: present[k] if k == m else torch.zeros_like(present[k]) for k in model.modalities}
        probabilities = scores(model.fuse(detached, alone).float())
        result[m] = float(true_class_score(probabilities, labels)[complete].sum())
    return result


def coefficients(scores: dict[str, float], alpha: float) -> dict[str, float]:
    """``1 - tanh(alpha * relu(ratio - 1))`` per input, ratio = its score over the mean of the others'."""
    result = {}
    for m, score in scores.items():
        others = [s for k, s in scores.items() if k != m]
        rest = sum(others) / len(others) if others else 0.0
        ratio = score / rest if rest > 0 else 1.0
        result[m] = 1.0 - math.tanh(alpha * max(0.0, ratio - 1.0))
    return result


class GradientModulation:
    """Scales each input's parameters' gradients by that input's coefficient of the current batch: tensor hooks
    scale each backward's gradient before it is accumulated, so with ``grad_accum_steps`` each batch gets its own."""

    def __init__(self, spec: ModulationSpec, model: MultimodalModel, scores: Scores) -> None:
        self.spec = spec
        self.model = model
        self.scores = scores
        self.groups = modulated_parameters(model)
        self._handles: list[torch.utils.hooks.RemovableHandle] = []
        self.start_epoch(None)

    def attach(self) -> None:
        self._handles += [p.register_hook(self._hook(m)) for m, params in self.groups.items() for p in params]

    def detach(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _hook(self, modality: str) -> Callable[[Tensor], Tensor | None]:
        def scale(grad: Tensor) -> Tensor | None:
            if not self.active:
                return None
            scaled = grad * self.coefficients[modality]
            if self.spec.noise and grad.numel() > 1:
                scaled = scaled + torch.randn_like(grad) * (grad.std() + 1e-8)  # of the unscaled gradient
            return scaled
        return scale

    def start_epoch(self, epoch: int | None) -> None:
        """Coefficients back to 1; active from ``epoch`` on as the spec says (None: not yet training)."""
        self.active = epoch is not None and self.spec.active(epoch) and len(self.groups) > 1
        self.coefficients = {m: 1.0 for m in self.groups}
        self._sums = {m: 0.0 for m in self.groups}
        self._batches = 0

    def update(self, parts: ModelParts, batch: Batch) -> None:
        """This batch's coefficients, from the forward pass it trains with (call before ``backward``)."""
        if self.active and batch.labels is not None:
            measured = contributions(self.model, parts.encoded, batch.present, batch.labels, self.scores)
            self.coefficients = coefficients(measured, self.spec.alpha)
        for m, value in self.coefficients.items():
            self._sums[m] += value
        self._batches += 1

    def epoch_metrics(self) -> dict[str, float]:
        """Each input's mean coefficient over the epoch (1.0: not slowed down), for the history."""
        return {f"modulation_{m}": round(total / max(self._batches, 1), 6) for m, total in self._sums.items()}
