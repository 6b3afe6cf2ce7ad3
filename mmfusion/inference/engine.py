"""The one inference path: batches → scores, whatever runs the model.

Training's validation and test report, ``evaluate``, the ``Predictor`` and the int8 check all score rows through
:class:`InferenceEngine`; its backend is the torch model or an ONNX Runtime session (fp32 or int8), so a run scores
the same rows the same way wherever it is used. Batches come from :mod:`mmfusion.model.featurizer`, scores from
:mod:`mmfusion.tasks.scores`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..model.batch import Batch
from ..runtime.precision import Precision, inference_precision
from ..tasks.scores import Scores, score_name, scores_for
from .attribution import Attribution, attribute, players, tempered
from .backends import OnnxBackend, TorchBackend, channels_last_inputs
from .drift import InputReference, percentiles

if TYPE_CHECKING:
    from ..model.multimodal import MultimodalModel
    from ..registry import Registry
    from ..spec.train_spec import TrainSpec


@dataclass
class Predictions:
    """Scores (one column per label) for every row, with the labels (class ids, or multi-hot rows for multilabel)
    and the mean loss when labels were known. Decisions come from
    :func:`mmfusion.tasks.decisions.decide`."""

    probabilities: np.ndarray
    labels: np.ndarray | None
    loss: float | None
    logits: np.ndarray | None = field(default=None, repr=False)
    #: models with unimodal heads (``train.aux_unimodal``): each head's logits, and each input's presence per row
    aux_logits: dict[str, np.ndarray] | None = field(default=None, repr=False)
    #: (and with ``pooled`` or ``fused``, each input's presence per row whatever the model)
    present: dict[str, np.ndarray] | None = field(default=None, repr=False)
    #: with ``pooled=True``: each input's pooled encoder vectors of the rows that have it (torch backend only)
    pooled: dict[str, np.ndarray] | None = field(default=None, repr=False)
    #: with ``drift``: each input's distance from the training rows per row as a percentile of the run's reference
    #: distances (:func:`.drift.percentiles`), NaN where the row lacks the input
    drift: dict[str, np.ndarray] | None = field(default=None, repr=False)
    #: models with a fitted quality gate (``train.quality_gate``): per input and row, 1 where the gate dropped the
    #: input, 0 where it kept it, NaN where the row lacks it
    gated: dict[str, np.ndarray] | None = field(default=None, repr=False)
    #: with ``explain``: each input's Shapley values of every row's explained logits (:mod:`.attribution`)
    attribution: Attribution | None = field(default=None, repr=False)
    #: with ``fused=True``: the fusion's output of every row ``[N, D]``, the head's input (torch backend only)
    fused: np.ndarray | None = field(default=None, repr=False)


@dataclass
class InferenceEngine:
    """Scores batches: moved to ``device`` (the CPU for ONNX Runtime), the backend's fp32 logits (``num_outputs`` a
    row, the width of an empty result), the task's ``scores`` (:func:`mmfusion.tasks.scores.scores_for`)."""

    backend: TorchBackend | OnnxBackend
    device: torch.device
    scores: Scores
    num_outputs: int
    #: softmax scores: attribution explains the logits less the row's mean (:func:`.attribution.explained_logits`)
    centred: bool = False
    #: a calibrated run's temperatures, which attribution divides its values by as the scores divide the logits
    temperature: Sequence[float] | None = None

    @classmethod
    def for_run(cls, model: MultimodalModel, train: TrainSpec, device: torch.device, *,
                registry: Registry | None = None, task: str = "multiclass",
                precision: Precision | None = None, temperature: Sequence[float] | None = None) -> InferenceEngine:
        """The torch engine of a model: the precision its training setting allows on ``device`` (training passes
        its own), its channels_last inputs (put in that layout here), and the scores of its task and loss (divided
        by a calibrated run's ``temperature``)."""
        precision = precision or inference_precision(train.precision, device)
        backend = TorchBackend(model, precision, channels_last_inputs(model, train.channels_last))
        return cls(backend, device, scores_for(task, train.loss, registry, temperature), model.num_classes,
                   _softmax(task, train, registry), temperature)

    @classmethod
    def for_onnx(cls, session: Any, input_names: Sequence[str], train: TrainSpec, num_outputs: int, *,
                 registry: Registry | None = None, task: str = "multiclass",
                 temperature: Sequence[float] | None = None) -> InferenceEngine:
        """The engine of an exported model (fp32 or int8) run by ONNX Runtime on the CPU."""
        return cls(OnnxBackend(session, list(input_names)), torch.device("cpu"),
                   scores_for(task, train.loss, registry, temperature), num_outputs, _softmax(task, train, registry),
                   temperature)

    @property
    def model(self) -> MultimodalModel:
        """The torch backend's model (an ONNX engine runs an exported file: it has none)."""
        return self._torch().model

    @property
    def precision(self) -> Precision:
        """The torch backend's autocast precision."""
        return self._torch().precision

    def _torch(self) -> TorchBackend:
        if not isinstance(self.backend, TorchBackend):
            raise TypeError("this inference engine runs an ONNX Runtime session, not a torch model")
        return self.backend

    @property
    def channels_last(self) -> Sequence[str]:
        return getattr(self.backend, "channels_last", ())

    @torch.inference_mode()
    def predict(self, batches: Iterable[Batch], *, absent: Sequence[str] = (),
                loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
                advance: Callable[..., None] | None = None, pooled: bool = False,
                drift: Mapping[str, InputReference] | None = None, explain: bool = False,
                fused: bool = False) -> Predictions:
        """Scores for every batch (moved to the device; inputs in ``absent`` marked absent in every sample); with
        ``loss`` and labelled batches, the row-weighted mean loss too; with ``pooled``, each input's pooled vectors
        where rows have it; with ``fused``, every row's fused vector (the head's input; torch backend only) and,
        with either, each input's presence per row (``present``); with ``drift``, each of its inputs' distances from
        the training rows (the torch backend sees the vectors: an ONNX engine returns no drift); with ``explain``,
        each input's Shapley values (:mod:`.attribution`: the torch backend reruns the fusion and head per coalition,
        an ONNX one the whole model).

        Raises:
            TypeError: ``fused`` asked of an ONNX engine (the exported model returns only logits).
        """
        if fused:
            self._torch()
        logits_list, labels, fused_list = [], [], []
        heads = list(self.backend.aux_inputs)
        aux_list: dict[str, list[torch.Tensor]] = {m: [] for m in heads}
        model = getattr(self.backend, "model", None)
        presence = model.modalities if model is not None and (pooled or fused) else heads
        present_list: dict[str, list[torch.Tensor]] = {m: [] for m in presence}
        vectors: dict[str, list[np.ndarray]] = {}
        distances: dict[str, list[np.ndarray]] = {}
        gated: dict[str, list[np.ndarray]] = {}
        shares: dict[str, list[np.ndarray]] = {}
        baselines: list[np.ndarray] = []
        exact = True
        gate = model is not None and model.gate is not None and model.gate.fitted
        total_loss, samples = 0.0, 0
        for batch in batches:
            batch = self.backend.prepare(batch, self.device)
            for m in absent:  # inputs left out (ablations): absent in every sample
                batch.present[m] = torch.zeros_like(batch.present[m])
            logits, aux, encoded, seen, coalitions, fused_rows = self.backend(batch, explain)
            if coalitions is not None:
                values, baseline, exact = attribute(coalitions, players(batch.present), centred=self.centred,
                                                    logits=logits)
                for m, phi in values.items():
                    shares.setdefault(m, []).append(tempered(phi.cpu().numpy(), self.temperature))
                baselines.append(tempered(baseline.cpu().numpy(), self.temperature))
            if gate:
                for m, kept in seen.items():
                    had = batch.present[m].cpu().numpy()
                    gated.setdefault(m, []).append(np.where(had, (~kept.cpu().numpy()).astype(float), np.nan))
            for m, vector in encoded.items():
                if pooled:  # an absent row's vector is a filler, not the input's
                    vectors.setdefault(m, []).append(vector[batch.present[m]].cpu().numpy())
                if drift and m in drift:
                    away = percentiles(drift[m].reference, drift[m].distances(vector.cpu().numpy()))
                    distances.setdefault(m, []).append(np.where(batch.present[m].cpu().numpy(), away, np.nan))
            for m in heads:
                aux_list[m].append(aux[m].cpu())
            for m in presence:
                present_list[m].append(batch.present[m].cpu())
            if fused and fused_rows is not None:
                fused_list.append(fused_rows.cpu())
            logits_list.append(logits.cpu())
            if batch.labels is not None:
                labels.append(batch.labels.cpu())
                if loss is not None:
                    total_loss += float(loss(logits, batch.labels)) * len(batch)
            samples += len(batch)
            if advance is not None:
                advance(1)
        all_logits = _cat(logits_list, self.num_outputs)
        y = torch.cat(labels).numpy() if labels else None
        mean_loss = total_loss / samples if (labels and loss is not None and samples) else None
        aux_logits = {m: _cat(parts, self.num_outputs).numpy() for m, parts in aux_list.items()} or None
        present = {m: _cat(parts, None).numpy() for m, parts in present_list.items()} or None
        attribution = None
        if explain:
            width = (0, self.num_outputs)
            attribution = Attribution({m: np.concatenate(v) if v else np.zeros(width) for m, v in shares.items()},
                                      np.concatenate(baselines) if baselines else np.zeros(width), exact)
        return Predictions(self.scores(all_logits).numpy(), y, mean_loss, all_logits.numpy(),
                           aux_logits, present, {m: np.concatenate(v) for m, v in vectors.items()} or None,
                           {m: np.concatenate(v) for m, v in distances.items()} or None,
                           {m: np.concatenate(v) for m, v in gated.items()} or None, attribution,
                           _cat(fused_list, model.fusion.output_dim).numpy() if model is not None and fused else None)


def _softmax(task: str, train: TrainSpec, registry: Registry | None) -> bool:
    """Whether the run's scores are a softmax over the logits (multiclass with a softmax loss)."""
    return task == "multiclass" and score_name(task, train.loss, registry) == "softmax"


def _cat(parts: list[torch.Tensor], width: int | None) -> torch.Tensor:
    """The batches' rows together (an empty table: no rows of the right shape)."""
    if parts:
        return torch.cat(parts)
    return torch.zeros((0, width)) if width is not None else torch.zeros(0, dtype=torch.bool)

