"""The training step's objective with the ``train:`` options against modality imbalance (``aux_unimodal``,
``modulation``, ``modality_dropout``) and for graceful degradation (``graceful``); without them the step is the
plain ``loss(model(batch), labels)``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
from torch import Tensor, nn

from ..model.batch import Batch
from ..model.multimodal import ModelParts, MultimodalModel
from ..spec.balance_spec import GracefulSpec
from ..spec.train_spec import TrainSpec
from ..tasks.metrics import task_metrics
from ..tasks.scores import Scores
from .modality_dropout import drop_inputs, with_dropped_copies, with_subset_copies
from .modulation import GradientModulation


class BalancedTraining:
    """Per batch: drop inputs (``modality_dropout``), add the unimodal heads' losses (``aux_unimodal``) and set
    the gradient modulation's coefficients (``modulation``); per epoch: the history columns they add. ``model`` is
    the model itself, not a DDP or compiled wrapper: modulation reruns its fusion."""

    def __init__(self, train: TrainSpec, model: MultimodalModel, scores: Scores) -> None:
        self.modalities = model.modalities
        self.dropout = train.modality_dropout
        self.keep_full = bool(self.dropout is not None and self.dropout.keep_full)
        self.aux_weight = train.aux_unimodal.weight if train.aux_unimodal is not None else None
        graceful = graceful_spec(train, model)
        self.graceful_weight = graceful.weight if graceful is not None else None
        self.modulation = (GradientModulation(train.modulation, model, scores)
                           if train.modulation is not None else None)
        self.start_epoch(None)

    @classmethod
    def for_spec(cls, train: TrainSpec, model: MultimodalModel, scores: Scores) -> BalancedTraining | None:
        """None when the spec asks for none of the options."""
        if all(option is None for option in (train.aux_unimodal, train.modulation, train.modality_dropout,
                                              graceful_spec(train, model))):
            return None
        return cls(train, model, scores)

    def attach(self) -> None:
        if self.modulation is not None:
            self.modulation.attach()

    def detach(self) -> None:
        if self.modulation is not None:
            self.modulation.detach()

    def start_epoch(self, epoch: int | None) -> None:
        """Zeroed counters; the dropout rates of ``epoch`` (None: before training, no dropout)."""
        self.rates = {} if self.dropout is None or epoch is None else self.dropout.rates(self.modalities, epoch)
        if self.modulation is not None:
            self.modulation.start_epoch(epoch)
        self._aux_loss = {m: 0.0 for m in self.modalities}
        self._aux_rows = {m: 0 for m in self.modalities}

    def loss(self, model: nn.Module, batch: Batch, loss_fn: Callable[[Tensor, Tensor], Tensor],
             autocast: Callable[[], Any]) -> tuple[Tensor, Tensor]:
        """The objective to minimise and the fused loss (what ``train_loss`` reports) of one prepared batch."""
        present, rows_in = batch.present, len(batch)
        if len(self.modalities) > 1 and any(rate > 0 for rate in self.rates.values()):
            dropped = drop_inputs(present, self.rates, self.modalities)
            batch = with_dropped_copies(batch, dropped)[0] if self.keep_full else replace(batch, present=dropped)
        trained = len(batch)  # the rows whose mean loss is the objective (with keep_full's copies)
        if self.graceful_weight is not None and len(self.modalities) > 1:
            batch = with_subset_copies(batch, self.modalities)[0]
        with autocast():
            parts: ModelParts = model(batch, parts=True)
        objective = loss_fn(parts.logits[:trained].float(), batch.labels[:trained])
        if len(batch) > trained:  # graceful: the copies with fewer inputs, weighted
            objective = objective + self.graceful_weight * loss_fn(parts.logits[trained:].float(),
                                                                   batch.labels[trained:])
        # what train_loss reports: the loss of the batch's own rows (keep_full's copies come after them)
        fused = objective if len(batch) == rows_in else loss_fn(parts.logits[:rows_in].float(),
                                                                 batch.labels[:rows_in])
        if self.aux_weight is not None:
            for m, all_logits in parts.aux.items():
                logits = all_logits[:rows_in]
                rows = present[m]  # the rows that have the input, dropped or not: the head reads the encoder
                count = int(rows.sum())
                if count == 0:
                    continue
                aux_loss = loss_fn(logits[rows].float(), batch.labels[:rows_in][rows])
                objective = objective + self.aux_weight * aux_loss
                self._aux_loss[m] += float(aux_loss.detach()) * count
                self._aux_rows[m] += count
        if self.modulation is not None:
            with autocast():
                self.modulation.update(parts, batch)
        return objective, fused

    def epoch_metrics(self) -> dict[str, Any]:
        """The epoch's extra history columns: each input's scheduled dropout rate, mean auxiliary loss and mean
        modulation coefficient (only those of the options in use; under torchrun, this process's rows)."""
        row: dict[str, Any] = {}
        if self.dropout is not None:
            row.update({f"modality_dropout_{m}": round(rate, 6) for m, rate in self.rates.items()})
        if self.aux_weight is not None:
            row.update({f"train_aux_{m}_loss": (self._aux_loss[m] / self._aux_rows[m] if self._aux_rows[m] else None)
                        for m in self.modalities})
        if self.modulation is not None:
            row.update(self.modulation.epoch_metrics())
        return row


def graceful_spec(train: TrainSpec, model: MultimodalModel) -> GracefulSpec | None:
    """``train.graceful`` resolved: ``auto`` is the defaults for a fusion meant for missing inputs
    (:attr:`~mmfusion.Fusion.graceful_by_default`), else off."""
    if train.graceful == "auto":
        return GracefulSpec() if getattr(type(model.fusion), "graceful_by_default", False) else None
    return train.graceful if isinstance(train.graceful, GracefulSpec) else None


def aux_metrics(task: str, labels: np.ndarray, aux_scores: dict[str, np.ndarray], present: dict[str, np.ndarray]
                ) -> dict[str, dict[str, float]]:
    """Each unimodal head's metrics on the rows that have its input (an input no row has is left out)."""
    rows = {m: present[m].astype(bool) for m in aux_scores}
    return {m: task_metrics(task, labels[rows[m]], scores[rows[m]]) for m, scores in aux_scores.items()
            if rows[m].any()}
