"""The loss contract: logits and targets → one scalar to minimise (``train.loss``)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from torch import Tensor, nn

from .config import LossConfig

#: every task's name: what ``Loss.tasks`` may list (the registry refuses other names)
TASKS: tuple[str, ...] = ("multiclass", "multilabel", "binary")


class Loss(nn.Module):
    """Base class of losses: built with ``(config, num_classes, class_weights=None)``.

    ``forward(logits, targets) -> scalar``, where per task (:attr:`tasks` lists those the loss handles):

    - multiclass: logits ``[B, C]``, targets ``[B]`` class indexes (int64);
    - multilabel: logits ``[B, L]``, targets ``[B, L]`` multi-hot floats (1.0 where the row has the label);
    - binary: logits ``[B, 1]`` (the positive label's), targets ``[B]`` 0/1 indexes (int64).

    ``num_classes`` is the number of model outputs (1 for binary); the same loss gives ``val_loss``.
    ``class_weights`` (``[C]``, ``train.imbalance: class_weights``, multiclass only) is None or a tensor to weight
    classes by; a loss that cannot use them should raise an ``MMFusionError`` rather than ignore them.
    Evaluation and ``Predictor`` read :attr:`multiclass_scores` from the class (:mod:`mmfusion.tasks.scores`), so
    a loss trained on sigmoid outputs is read back through a sigmoid.
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

    @classmethod
    def conformance_configs(cls, workdir: Path) -> list[LossConfig]:
        """Configs for :mod:`mmfusion.testing` (``workdir``: an empty folder); the default is the config's defaults."""
        return [cls.Config()]
