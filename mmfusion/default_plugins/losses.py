"""Built-in losses: cross-entropy (with label smoothing), focal loss, and binary cross-entropy over one-hot targets."""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field
from torch import Tensor
from torch.nn import functional

from ..errors import MMFusionError
from ..hookspecs import hookimpl
from ..interfaces.config import LossConfig
from ..interfaces.loss import Loss


def _per_class(name: str, values: float | list[float] | None, num_classes: int) -> Tensor | None:
    """A per-class option as a ``[C]`` tensor (a single number applies to every class)."""
    if values is None:
        return None
    if isinstance(values, (int, float)):
        return torch.full((num_classes,), float(values))
    if len(values) != num_classes:
        what = "1 output (binary: the positive label's)" if num_classes == 1 else f"{num_classes} outputs"
        raise MMFusionError(f"train.loss.{name} lists {len(values)} values, but the model has {what}: give one "
                            "value per output (in labels.json order) or a single number")
    return torch.tensor(values, dtype=torch.float32)


class CrossEntropyConfig(LossConfig):
    type: Literal["cross_entropy"] = "cross_entropy"
    label_smoothing: float = Field(0.0, ge=0, lt=1, description="Mix this much of a uniform target into each label.")


class CrossEntropy(Loss):
    """Softmax cross-entropy, weighted by ``train.imbalance: class_weights`` and optionally label-smoothed."""

    name = "cross_entropy"
    Config = CrossEntropyConfig
    tasks = ("multiclass",)
    config: CrossEntropyConfig

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        return functional.cross_entropy(logits, targets, weight=self.class_weights,
                                        label_smoothing=self.config.label_smoothing)


class FocalConfig(LossConfig):
    type: Literal["focal"] = "focal"
    gamma: float = Field(2.0, ge=0, description="Down-weights easy rows by (1 - p)^gamma; 0 is cross-entropy.")
    alpha: float | list[float] | None = Field(
        None, description="Class weights: one per class (labels.json order), or one number for all. "
        "Not together with train.imbalance: class_weights.")


class FocalLoss(Loss):
    """Focal loss (Lin et al. 2017), multi-class: ``-alpha_y (1 - p_y)^gamma log p_y``, averaged over rows.

    Hard (misclassified) rows dominate the gradient, which helps when easy majority-class rows swamp it.
    """

    name = "focal"
    Config = FocalConfig
    tasks = ("multiclass",)
    config: FocalConfig

    def __init__(self, config: FocalConfig, num_classes: int, class_weights: Tensor | None = None) -> None:
        if class_weights is not None and config.alpha is not None:
            raise MMFusionError("train.loss.alpha and train.imbalance: class_weights both weight the classes of the "
                                "focal loss: use one of them")
        alpha = _per_class("alpha", config.alpha, num_classes)
        super().__init__(config, num_classes, class_weights if alpha is None else alpha)

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        log_p = functional.log_softmax(logits, dim=1).gather(1, targets[:, None]).squeeze(1)
        loss = -((1 - log_p.exp()) ** self.config.gamma) * log_p
        if self.class_weights is not None:
            loss = loss * self.class_weights[targets]
        return loss.mean()


class BCEConfig(LossConfig):
    type: Literal["bce"] = "bce"
    pos_weight: float | list[float] | Literal["auto"] | None = Field(
        None, description="Weight of the positive term, one per output or one number for all (BCEWithLogits' "
        "pos_weight); auto: negatives / positives of each output in the training data, clipped to [0.01, 100].")


class BinaryCrossEntropy(Loss):
    """Binary cross-entropy with logits: every output is an independent yes/no.

    Multilabel targets are multi-hot already; binary targets (0/1) score the one logit; multiclass targets
    are one-hot encoded, and predictions then rank classes by sigmoid scores (their argmax is the
    predicted class), which are also what evaluation and ``Predictor`` report. Class weights scale each
    class's column. The mean is over rows and outputs.
    """

    name = "bce"
    Config = BCEConfig
    tasks = ("multiclass", "multilabel", "binary")
    multiclass_scores = "sigmoid"

    def __init__(self, config: BCEConfig, num_classes: int, class_weights: Tensor | None = None) -> None:
        super().__init__(config, num_classes, class_weights)
        self.pos_weight: Tensor | None
        if config.pos_weight == "auto":
            raise MMFusionError("train.loss.pos_weight: auto is computed from the training labels when the loss is "
                                "built for training (mmfusion.training.losses.build_loss with targets)")
        self.register_buffer("pos_weight", _per_class("pos_weight", config.pos_weight, num_classes),
                             persistent=False)

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        if targets.is_floating_point():  # multilabel: multi-hot already
            goal = targets.to(logits.dtype)
        elif logits.shape[1] == 1:  # binary: 0/1 for the positive label's logit
            goal = targets.to(logits.dtype)[:, None]
        else:
            goal = functional.one_hot(targets, self.num_classes).to(logits.dtype)
        return functional.binary_cross_entropy_with_logits(logits, goal, weight=self.class_weights,
                                                           pos_weight=self.pos_weight)


@hookimpl
def mmfusion_losses() -> list[type]:
    return [CrossEntropy, FocalLoss, BinaryCrossEntropy]
