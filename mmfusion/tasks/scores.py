"""How logits become per-label scores: one column per label for every task, so that decisions, metrics and
tables read scores alike.

Multiclass: softmax, or a sigmoid per class when the run's loss trains on sigmoid outputs (``bce``); the
loss's class says so (:attr:`mmfusion.interfaces.loss.Loss.multiclass_scores`) and is looked up in the
registry, never built: building a loss may need the training labels (``pos_weight: auto``). Multilabel: a
sigmoid per label. Binary: ``[1 - p, p]`` from the one logit.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Literal

from .definitions import DEFAULT_LOSS

if TYPE_CHECKING:
    import torch

    from ..interfaces.config import LossConfig
    from ..registry import Registry

#: logits ``[N, outputs]`` → scores ``[N, labels]``
Scores = Callable[["torch.Tensor"], "torch.Tensor"]
#: how exported metadata names the function from logits to scores
ScoreName = Literal["softmax", "sigmoid"]


def softmax(logits: torch.Tensor) -> torch.Tensor:
    """Class probabilities of single-label classification."""
    return logits.softmax(dim=1)


def sigmoid(logits: torch.Tensor) -> torch.Tensor:
    """Independent per-label probabilities (multilabel, and multiclass trained with ``bce``)."""
    return logits.sigmoid()


def binary(logits: torch.Tensor) -> torch.Tensor:
    """``[1 - p, p]`` from the one logit, so that binary scores have one column per label too."""
    import torch

    positive = logits[:, :1].sigmoid()
    return torch.cat([1 - positive, positive], dim=1)


def score_name(task: str, loss: LossConfig | None = None, registry: Registry | None = None) -> ScoreName:
    """Softmax or sigmoid: what ``task``'s scores are, given ``train.loss`` (None: the task's default loss)."""
    if task != "multiclass":
        return "sigmoid"
    from ..registry import get_registry

    name = loss.component_name if loss is not None else DEFAULT_LOSS[task]
    return (registry or get_registry()).get("loss", name).multiclass_scores


def scores_for(task: str, loss: LossConfig | None = None, registry: Registry | None = None,
               temperature: Sequence[float] | None = None) -> Scores:
    """The function from logits to scores of a run of ``task`` trained with ``loss`` (None: the default), with a
    calibrated run's ``temperature`` (:mod:`.calibration`) dividing the logits first."""
    if task == "binary":
        base = binary
    else:
        base = softmax if score_name(task, loss, registry) == "softmax" else sigmoid
    return base if temperature is None else functools.partial(tempered, base, tuple(temperature))


def tempered(base: Scores, temperature: Sequence[float], logits: torch.Tensor) -> torch.Tensor:
    """``base(logits / T)``: the scores of a temperature-scaled run."""
    from .calibration import scaled

    return base(scaled(logits, temperature))
