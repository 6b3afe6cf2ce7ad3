"""The loss a spec trains with: ``train.loss`` (or the task's default) built through the registry, with
``train.imbalance: class_weights`` passed to it and ``pos_weight: auto`` computed from the training labels."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from ..errors import SpecError
from ..registry import Registry, get_registry
from ..tasks.definitions import DEFAULT_LOSS
from .callbacks.base import plugin_call

if TYPE_CHECKING:
    from ..interfaces.loss import Loss
    from ..spec.train_spec import TrainSpec


def class_weights(labels: np.ndarray, num_classes: int) -> torch.Tensor:
    """Inverse class frequency of the training labels, averaging 1 over classes (absent classes count as 1 row)."""
    counts = torch.bincount(torch.from_numpy(np.asarray(labels)), minlength=num_classes).float()
    return counts.sum() / (len(counts) * counts.clamp(min=1))


#: ``pos_weight: auto`` stays within these bounds: a label seen once (or never) must not swamp the others
POS_WEIGHT_RANGE = (0.01, 100.0)


def positive_weights(targets: np.ndarray, num_outputs: int) -> list[float]:
    """Negatives / positives of each output in the training targets (multi-hot ``[N, L]``, 0/1 ``[N]`` for one
    output, or class ids ``[N]``, one-hot per class), clipped to :data:`POS_WEIGHT_RANGE`."""
    y = np.asarray(targets)
    if y.ndim == 2:
        positives = y.sum(axis=0).astype(float)
    elif num_outputs == 1:
        positives = np.array([float((y == 1).sum())])
    else:
        positives = np.bincount(y.astype(int), minlength=num_outputs).astype(float)
    negatives = len(y) - positives
    low, high = POS_WEIGHT_RANGE
    return [float(w) for w in np.clip(negatives / np.maximum(positives, 1e-9), low, high)]


def build_loss(train: TrainSpec, num_classes: int, *, class_weights: torch.Tensor | None = None,
               registry: Registry | None = None, task: str = "multiclass",
               targets: np.ndarray | None = None) -> Loss:
    """The ``train.loss`` component (or the task's default loss) for ``num_classes`` outputs.

    A ``pos_weight: auto`` option becomes negatives / positives per output of ``targets`` (the training
    labels); without targets (scoring a trained run) it is left out, since scores do not depend on it.

    Raises:
        SpecError: the loss does not handle the task.
        PluginError: the loss cannot be built.
    """
    registry = registry or get_registry()
    config = train.loss if train.loss is not None else registry.get("loss", DEFAULT_LOSS[task]).Config()
    cls = registry.get("loss", config.component_name)
    if task not in cls.tasks:
        raise SpecError(f"train.loss: loss '{config.type}' handles {' and '.join(cls.tasks)} data, not {task}; "
                        f"use {DEFAULT_LOSS[task]}")
    if getattr(config, "pos_weight", None) == "auto":
        weights = positive_weights(targets, num_classes) if targets is not None else None
        config = config.model_copy(update={"pos_weight": weights})
    return plugin_call(f"train.loss: loss '{config.type}'", "could not be built", cls, config, num_classes,
                       class_weights)

