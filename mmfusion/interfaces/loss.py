"""The loss contract: logits and targets → one scalar to minimise (``train.loss``)."""

from __future__ import annotations

from typing import ClassVar, Literal

from torch import Tensor, nn

from .config import LossConfig


class Loss(nn.Module):
    """Base class of losses: built with ``(config, num_classes, class_weights=None)``.

    ``forward(logits, targets) -> scalar``, where per task (:attr:`tasks` lists those the loss handles):

    - multiclass: logits ``[B, C]``, targets ``[B]`` class indexes (int64);
    - multilabel: logits ``[B, L]``, targets ``[B, L]`` multi-hot floats (1.0 where the row has the label);
    - binary: logits ``[B, 1]`` (the positive label's), targets ``[B]`` 0/1 indexes (int64).

    ``num_classes`` is the number of model outputs (1 for binary). The same loss scores training batches
    and the validation table (``val_loss``). ``class_weights`` (``[C]``, from ``train.imbalance:
    class_weights``, multiclass only) is None or a tensor the loss should weight classes by; a loss that
    cannot use class weights should raise an ``MMFusionError`` saying so rather than ignore them. A spec
    whose task the loss does not list is refused before training, naming the loss.

    :attr:`multiclass_scores` says how logits become the scores multiclass predictions rank by (softmax by
    default); evaluation and ``Predictor`` read it from the class (:mod:`mmfusion.tasks.scores`), so a loss
    trained on sigmoid outputs is also read back through a sigmoid. Multilabel and binary scores are always
    sigmoids.
    """

    name: ClassVar[str]
    Config: ClassVar[type[LossConfig]]
    #: the tasks this loss handles (see the class docstring for their targets); every loss names them
    tasks: ClassVar[tuple[str, ...]]
    #: per-class scores in [0, 1] whose argmax is the multiclass prediction: softmax or a sigmoid per class
    multiclass_scores: ClassVar[Literal["softmax", "sigmoid"]] = "softmax"

    def __init__(self, config: LossConfig, num_classes: int, class_weights: Tensor | None = None) -> None:
        super().__init__()
        self.config = config
        self.num_classes = int(num_classes)
        self.class_weights: Tensor | None
        self.register_buffer("class_weights", class_weights, persistent=False)

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError
