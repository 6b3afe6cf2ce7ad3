"""The loss a spec trains with: ``train.loss`` built through the registry, with the older ``train`` options
(``label_smoothing``, ``imbalance: class_weights``) mapped onto it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import torch

from .errors import MMFusionError, PluginError
from .registry import Registry, get_registry

if TYPE_CHECKING:
    from .interfaces.loss import Loss
    from .spec.train_spec import TrainSpec


def class_weights(labels: np.ndarray, num_classes: int) -> torch.Tensor:
    """Inverse class frequency of the training labels, averaging 1 over classes (absent classes count as 1 row)."""
    counts = torch.bincount(torch.from_numpy(np.asarray(labels)), minlength=num_classes).float()
    return counts.sum() / (len(counts) * counts.clamp(min=1))


def build_loss(train: TrainSpec, num_classes: int, *, class_weights: torch.Tensor | None = None,
               registry: Registry | None = None) -> Loss:
    """The ``train.loss`` component for ``num_classes`` classes.

    ``train.label_smoothing`` (the older spelling) becomes the cross-entropy's ``label_smoothing`` when the
    loss's own is unset; the spec already refused it for other losses and conflicting values.

    Raises:
        PluginError: the loss cannot be built (the message names it and the reason).
        MMFusionError: its options do not fit the data (e.g. one weight per class, but another class count).
    """
    config = train.loss
    if train.label_smoothing and "label_smoothing" in type(config).model_fields and not config.label_smoothing:
        config = config.model_copy(update={"label_smoothing": train.label_smoothing})
    cls = (registry or get_registry()).get("loss", config.component_name)
    try:
        return cls(config, num_classes, class_weights)
    except MMFusionError:
        raise
    except Exception as exc:
        raise PluginError(f"train.loss: loss '{config.type}' ({cls.__module__}.{cls.__qualname__}) could not be built: "
                          f"{type(exc).__name__}: {exc}") from exc


def loss_scores(train: TrainSpec, num_classes: int, *, registry: Registry | None = None
                ) -> Callable[[torch.Tensor], torch.Tensor]:
    """The scoring function (logits → class scores) of a run's loss, for evaluation and prediction."""
    return build_loss(train, num_classes, registry=registry).scores
