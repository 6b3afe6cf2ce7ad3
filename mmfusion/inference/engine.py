"""The one inference path: batch preparation, precision and batched prediction.

Training's validation and test report, ``evaluate`` and the ``Predictor`` all run a model through
:class:`InferenceEngine`, so a run scores the same rows the same way wherever it is used. This module
imports nothing from :mod:`mmfusion.training`: evaluation and prediction stand on their own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..model.batch import Batch
from ..runtime.precision import Precision, inference_precision
from ..tasks.scores import Scores, scores_for, softmax

if TYPE_CHECKING:
    from ..model.multimodal import MultimodalModel
    from ..registry import Registry
    from ..spec.train_spec import TrainSpec

def prepare_batch(batch: Batch, device: torch.device, channels_last_modalities: Sequence[str] = ()) -> Batch:
    """Move a batch to ``device``; image inputs of channels_last encoders get that memory layout."""
    batch = batch.to(device, non_blocking=device.type == "cuda")
    for m in channels_last_modalities:
        if m in batch.inputs:
            batch.inputs[m] = {k: v.contiguous(memory_format=torch.channels_last) if v.ndim == 4 else v
                               for k, v in batch.inputs[m].items()}
    return batch


def channels_last_inputs(model: MultimodalModel, enabled: bool) -> list[str]:
    """The inputs whose encoders prefer channels_last, when ``train.channels_last`` is on."""
    return [m for m, e in model.encoders.items() if enabled and e.prefers_channels_last]


@dataclass
class Predictions:
    """Scores (one column per label) for every row, with the labels (class ids, or multi-hot rows for multilabel)
    and the mean loss when labels were known. ``predicted`` is the argmax: multilabel and binary predictions
    apply thresholds instead (:func:`mmfusion.tasks.decisions.decide`)."""

    probabilities: np.ndarray
    labels: np.ndarray | None
    loss: float | None
    seconds: float
    logits: np.ndarray | None = field(default=None, repr=False)
    #: models with unimodal heads (``train.aux_unimodal``): each head's logits, and each input's presence per row
    aux_logits: dict[str, np.ndarray] | None = field(default=None, repr=False)
    present: dict[str, np.ndarray] | None = field(default=None, repr=False)

    @property
    def predicted(self) -> np.ndarray:
        return self.probabilities.argmax(axis=1)


@dataclass
class InferenceEngine:
    """Runs a model in eval mode on batches: device move, channels_last inputs, autocast, scores.

    Attributes:
        model: the model to run (put in eval mode by every call).
        device: where batches go.
        precision: the autocast to run under (:func:`mmfusion.runtime.precision.inference_precision` for a run).
        channels_last: inputs whose image tensors get the channels_last layout.
        scores: logits → per-label scores; softmax unless the task or the run's loss says otherwise.
    """

    model: MultimodalModel
    device: torch.device
    precision: Precision
    channels_last: Sequence[str] = ()
    scores: Scores = softmax

    @classmethod
    def for_run(cls, model: MultimodalModel, train: TrainSpec, device: torch.device, *,
                registry: Registry | None = None, task: str = "multiclass") -> InferenceEngine:
        """The engine for a trained model: the precision its training setting allows on ``device``, its
        channels_last inputs, and the scores of its task (and, for multiclass, of its ``train.loss``)."""
        return cls(model, device, inference_precision(train.precision, device),
                   channels_last_inputs(model, train.channels_last),
                   scores_for(task, train.loss, registry))

    def prepare(self, batch: Batch, absent: Sequence[str] = ()) -> Batch:
        """The batch on the device; inputs in ``absent`` are marked absent in every sample."""
        batch = prepare_batch(batch, self.device, self.channels_last)
        for m in absent:
            batch.present[m] = torch.zeros_like(batch.present[m])
        return batch

    @torch.inference_mode()
    def logits(self, batch: Batch) -> torch.Tensor:
        """fp32 logits of one prepared batch."""
        self.model.eval()
        with self.precision.autocast():
            return self.model(batch).float()

    @torch.inference_mode()
    def logits_and_aux(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """fp32 logits (as :meth:`logits`) and each unimodal head's fp32 logits, from one forward pass."""
        self.model.eval()
        heads = self.model.aux
        if heads is None:
            return self.logits(batch), {}
        with self.precision.autocast():
            parts = self.model(batch, parts=True)
            logits = heads.mix(parts.logits, parts.aux, batch.present)  # what model(batch) returns in eval mode
        return logits.float(), {m: v.float() for m, v in parts.aux.items()}

    @torch.inference_mode()
    def predict(self, batches: Iterable[Batch], *, absent: Sequence[str] = (),
                loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
                advance: Callable[..., None] | None = None) -> Predictions:
        """Scores for every batch; with ``loss`` and labelled batches, the row-weighted mean loss too."""
        self.model.eval()
        logits_list, labels = [], []
        with_aux = getattr(self.model, "aux", None) is not None
        aux_list: dict[str, list[torch.Tensor]] = {m: [] for m in self.model.modalities} if with_aux else {}
        present_list: dict[str, list[torch.Tensor]] = {m: [] for m in self.model.modalities} if with_aux else {}
        total_loss, samples = 0.0, 0
        started = time.perf_counter()
        for batch in batches:
            batch = self.prepare(batch, absent)
            if with_aux:
                logits, aux = self.logits_and_aux(batch)
                for m in aux_list:
                    aux_list[m].append(aux[m].cpu())
                    present_list[m].append(batch.present[m].cpu())
            else:
                logits = self.logits(batch)
            logits_list.append(logits.cpu())
            if batch.labels is not None:
                labels.append(batch.labels.cpu())
                if loss is not None:
                    total_loss += float(loss(logits, batch.labels)) * len(batch)
            samples += len(batch)
            if advance is not None:
                advance(1)
        all_logits = torch.cat(logits_list) if logits_list else torch.zeros((0, self.model.num_classes))
        y = torch.cat(labels).numpy() if labels else None
        mean_loss = total_loss / samples if (labels and loss is not None and samples) else None
        aux_logits = {m: _cat(parts, self.model.num_classes).numpy() for m, parts in aux_list.items()} or None
        present = {m: _cat(parts, None).numpy() for m, parts in present_list.items()} or None
        return Predictions(self.scores(all_logits).numpy(), y, mean_loss, time.perf_counter() - started,
                           all_logits.numpy(), aux_logits, present)


def _cat(parts: list[torch.Tensor], width: int | None) -> torch.Tensor:
    """The batches' rows together (an empty table: no rows of the right shape)."""
    if parts:
        return torch.cat(parts)
    return torch.zeros((0, width)) if width is not None else torch.zeros(0, dtype=torch.bool)

