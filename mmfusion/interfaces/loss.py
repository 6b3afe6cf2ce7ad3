"""The loss contract: logits and class targets → one scalar to minimise (``train.loss``)."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor, nn

from .config import LossConfig


class Loss(nn.Module):
    """Base class of losses: built with ``(config, num_classes, class_weights=None)``.

    ``forward(logits [B, C], targets [B] class indexes) -> scalar``. The same loss scores training
    batches and the validation table (``val_loss``). ``class_weights`` (``[C]``, from
    ``train.imbalance: class_weights``) is None or a tensor the loss should weight classes by; a loss that
    cannot use class weights should raise an ``MMFusionError`` saying so rather than ignore them.

    :meth:`scores` turns logits into the scores predictions rank by (softmax by default); evaluation and
    ``Predictor`` use it, so a loss trained on sigmoid outputs is also read back through a sigmoid.
    """

    name: ClassVar[str]
    Config: ClassVar[type[LossConfig]]

    def __init__(self, config: LossConfig, num_classes: int, class_weights: Tensor | None = None) -> None:
        super().__init__()
        self.config = config
        self.num_classes = int(num_classes)
        self.class_weights: Tensor | None
        self.register_buffer("class_weights", class_weights, persistent=False)

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def scores(self, logits: Tensor) -> Tensor:
        """Per-class scores in [0, 1] whose argmax is the prediction (default: softmax probabilities)."""
        return torch.softmax(logits, dim=1)
