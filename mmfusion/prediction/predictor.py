"""``Predictor``: load a run once, then classify samples or tables in batches."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..blame import plugin_errors_named
from ..data.files import CHUNK_ROWS
from ..data.pipeline import modality_handlers
from ..errors import DataError
from ..inference.attribution import Attribution
from ..inference.drift import read_references
from ..inference.engine import InferenceEngine, Predictions
from ..inference.reliance import decided_outputs, row_explanation
from ..interfaces.modality import BadValueError, CellContext
from ..model.batch import Batch
from ..model.featurizer import make_batch
from ..registry import Registry
from ..run.load import LoadedRun, load_run
from ..runtime.devices import resolve_device
from .embedder import Embedder
from .embeddings import Wanted
from .onnx_model import OnnxModel
from .tables import CONTRIBUTION_PREFIX, DRIFT_PREFIX, TableInput, samples_of, with_predictions


@dataclass(frozen=True)
class Prediction:
    """One sample's prediction: the chosen label(s), the top-k labels and every label's probability.

    Multiclass: ``label`` is the most likely class. Binary: ``label`` is the one the threshold chose and
    ``probability`` its probability (``probabilities`` holds both; the positive label's is compared with
    ``thresholds``). Multilabel: ``labels`` holds every label whose probability reaches its threshold, most
    likely first (possibly none), and ``label`` the first of them (None when there is none).
    """

    label: str | None
    probability: float
    top: list[tuple[str, float]]
    probabilities: dict[str, float]
    labels: list[str] = field(default_factory=list)
    task: str = "multiclass"
    thresholds: dict[str, float] | None = None
    #: with ``explain``: which input decided (:func:`~mmfusion.inference.reliance.row_explanation` of the chosen
    #: label — multilabel: the most likely label; binary: the positive label's logit — with ``label`` and ``of``)
    explanation: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        top = [{"label": k, "probability": v} for k, v in self.top]
        explained = {"explanation": self.explanation} if self.explanation is not None else {}
        if self.task == "multilabel":
            return {"labels": self.labels, "probabilities": self.probabilities, "thresholds": self.thresholds,
                    "top": top, **explained}
        out: dict[str, Any] = {"label": self.label, "probability": self.probability, "top": top,
                               "probabilities": self.probabilities}
        if self.task == "binary" and self.thresholds:
            (positive, threshold), = self.thresholds.items()
            out.update(positive_label=positive, positive_probability=self.probabilities[positive],
                       threshold=threshold)
        return {**out, **explained}


class Predictor(Embedder):
    """Classify with a trained run (a run directory or a loaded run); the model, tokenizers and transforms load once;
    embed rows with it (:class:`~mmfusion.prediction.embedder.Embedder`).

    ``backend`` "onnx" runs the model exported to ONNX in onnxruntime on the CPU; with it, ``quantize="int8"`` runs
    the int8 model (RUN/export/model.int8.onnx, made and checked on first use; see docs/export.md).
    """

    def __init__(self, run: str | Path | LoadedRun, *, device: str = "auto", batch_size: int = 64,
                 backend: str = "torch", registry: Registry | None = None, quantize: str | None = None) -> None:
        if backend not in {"torch", "onnx"}:
            raise DataError(f"unknown backend '{backend}'; choose torch or onnx")
        if quantize not in {None, "int8"}:
            raise DataError(f"unknown quantize '{quantize}'; choose int8, or leave it out for fp32")
        if quantize and backend != "onnx":
            raise DataError(f"quantize='{quantize}' runs the exported model in onnxruntime: use backend='onnx' "
                            "(--backend onnx) with it")
        self.device = resolve_device(device if backend == "torch" else "cpu")
        self._registry = registry
        self.run = run if isinstance(run, LoadedRun) else load_run(run, device=self.device, registry=registry)
        self.model = self.run.model.to(self.device).eval()
        self.labels = self.run.labels
        self.task = self.run.task
        #: multilabel and binary decision thresholds (binary: one, the positive label's), from thresholds.json
        self.thresholds = self.run.thresholds
        self.batch_size = batch_size
        self.handlers = modality_handlers(self.model, registry)
        train = self.run.spec.train
        #: the exported model (fp32 or int8) with its JSON, for backend onnx
        self.onnx = OnnxModel.for_run(self.run, quantize=quantize) if backend == "onnx" else None
        #: each input's drift reference (train.drift; the torch backend sees the encoders' vectors), or None
        self.drift = read_references(self.run.paths.drift) if self.onnx is None else None
        temperature = self.run.temperature
        self.engine = InferenceEngine.for_run(self.model, train, self.device, registry=registry, task=self.task,
                                              temperature=temperature) \
            if self.onnx is None else InferenceEngine.for_onnx(self.onnx.session, self.onnx.input_names, train,
                                                                self.model.num_classes, registry=registry,
                                                                task=self.task, temperature=temperature)

    @property
    def modalities(self) -> list[str]:
        return self.model.modalities

    def _raw(self, sample: Mapping[str, Any], place: CellContext, from_table: bool,
             bad: dict[str, list[str]] | None = None) -> dict[str, Any]:
        """Parse and load one sample; ``place`` names it in errors (a table's line, or the sample's index). An
        unusable value of an input in ``bad`` (``on_bad_value: absent``) is absent, its message added there; a row
        left with no input that way is kept (all absent), as training keeps one."""
        where = f"{place.source} {place.row_kind} {place.row}"
        unknown = sorted(set(sample) - set(self.modalities))
        if unknown:
            raise DataError(f"{where}: unknown input(s) {', '.join(unknown)}; this model reads "
                            f"{', '.join(self.modalities)}")
        raw: dict[str, Any] = {}
        dropped = False
        for m in self.modalities:
            cells, columns = self._cells(m, sample.get(m), from_table)
            context = replace(place, columns=columns)
            try:
                ref = self.handlers[m].parse(cells, context)
                raw[m] = None if ref is None else self.handlers[m].load(ref)
            except BadValueError as exc:  # also a file that passed parsing but does not decode: name its row
                if bad is None or m not in bad:
                    raise DataError(f"{context.where()}: {exc.problem}") from None
                bad[m].append(f"{context.where()}: {exc.problem}")
                raw[m], dropped = None, True
        if all(v is None for v in raw.values()) and not dropped:
            raise DataError(f"{where}: no input given; give at least one of {', '.join(self.modalities)}")
        return raw

    def _cells(self, modality: str, value: Any, from_table: bool) -> tuple[list[Any], tuple[str, ...]]:
        """A sample's value as cells and the names errors call them by: the trained columns for table rows,
        else the input's own name (``image``, ``text[1]``), since a caller's sample has no columns."""
        trained = self.run.inputs.get("columns", {}).get(modality) or [modality]
        trained = [trained] if isinstance(trained, str) else list(trained)
        if isinstance(value, Mapping) and not _is_image_struct(value):  # {column: cell}, e.g. a tabular row
            return list(value.values()), tuple(str(k) for k in value)
        if isinstance(value, (list, tuple)):
            names = (trained if from_table and len(trained) == len(value)
                     else [f"{modality}[{i}]" for i in range(len(value))])
            return list(value), tuple(names)
        return [value], (trained[0] if from_table and len(trained) == 1 else modality,)

    def predict_proba(self, samples: Sequence[Mapping[str, Any]], *, root: str | Path | None = None,
                      source: str = "input", rows: Sequence[int] | None = None, row_kind: str = "row"
                      ) -> np.ndarray:
        """Label probabilities ``[N, labels]``; a sample maps modality → raw value (absent: None/missing).

        Multiclass: those of the run's loss (softmax, or per-class sigmoid scores for ``bce``); multilabel: a
        sigmoid per label; binary: ``[1 - p, p]``, p the positive label's.

        Image values may be PIL images or paths (relative paths resolve against ``root``). ``source``,
        ``rows`` and ``row_kind`` name the samples in errors when they come from a table (its file name and
        line numbers); without ``rows`` a sample is named by its index ("input sample 3").
        """
        return self._predictions(samples, root=root, source=source, rows=rows, row_kind=row_kind).probabilities

    def _predictions(self, samples: Sequence[Mapping[str, Any]], *, root: str | Path | None = None,
                     source: str = "input", rows: Sequence[int] | None = None, row_kind: str = "row",
                     drift: bool = False, explain: bool = False, embed: Wanted | None = None,
                     bad: dict[str, list[str]] | None = None) -> Predictions:
        """:meth:`predict_proba`'s predictions, with each input's drift percentiles when ``drift``, Shapley
        values when ``explain``, the vectors ``embed`` asks for, and unusable values of the inputs in ``bad``
        absent (:meth:`_raw`)."""
        base = Path(root) if root else None

        def place(index: int) -> CellContext:
            if rows is None:
                return CellContext(source, index, (), base, row_kind="sample")
            return CellContext(source, rows[index], (), base, row_kind=row_kind)

        def batches() -> Iterator[Batch]:
            for start in range(0, len(samples), self.batch_size):
                chunk = samples[start:start + self.batch_size]
                yield make_batch(self.model, [self._raw(s, place(start + i), rows is not None, bad)
                                              for i, s in enumerate(chunk)])

        with plugin_errors_named(self._registry):  # a plugin's bug (an encoder's forward) names the plugin
            return self.engine.predict(batches(), drift=self.drift if drift else None, explain=explain,
                                       fused=bool(embed and embed.fused), pooled=bool(embed and embed.pooled))

    def predict(self, samples: Sequence[Mapping[str, Any]], *, top_k: int = 3, root: str | Path | None = None,
                explain: bool = False) -> list[Prediction]:
        """A prediction for each sample: the chosen label(s) and the top-k labels; with ``explain``, each input's
        contribution to the chosen label (exact Shapley values over the inputs, from the model with inputs left
        out: see docs/explain.md).

        Raises:
            DataError: ``explain`` on a model with one input (it alone decides everything).
        """
        if explain:
            self._check_explainable()
        found = self._predictions(samples, root=root, explain=explain)
        return [self._prediction(row, top_k, found.attribution, i) for i, row in enumerate(found.probabilities)]

    def predict_one(self, top_k: int = 3, explain: bool = False, **inputs: Any) -> Prediction:
        """``predict_one(image="cat.png", text="a cat")``; ``explain=True`` adds which input decided."""
        return self.predict([inputs], top_k=top_k, explain=explain)[0]

    def _check_explainable(self) -> None:
        if len(self.modalities) < 2:
            raise DataError(f"explain compares the model's inputs, but this model reads only "
                            f"'{self.modalities[0]}': every prediction is all its doing")

    def predict_table(self, table: Any, *, root: str | Path | None = None, top_k: int = 3, explain: bool = False
                      ) -> Any:
        """Predictions for a DataFrame or a CSV/TSV/Parquet file with the training columns.

        Returns:
            The input table with, for multiclass, ``predicted``, ``probability``, ``top1``..``top<k>`` with
            ``top<i>_probability`` (for ``top_k`` > 1); for binary, ``predicted`` (the label the threshold
            chose); for multilabel, ``predicted`` (the labels at or above their thresholds, joined by the
            run's ``data.label_sep`` or ``;``; empty for none); and always one ``p_<label>`` column per label.
            With the run's drift reference (``train.drift``, torch backend), a ``drift_<input>`` column per input:
            the row's distance from the training rows as a percentile of theirs (0.5 typical, 1 farther than
            all; empty without the input); :func:`~mmfusion.prediction.tables.table_drift` summarises them.
            With ``explain``, a ``contribution_<input>`` column per input: its Shapley value for the chosen label
            (multiclass: the predicted class's logit less the row's mean; binary: the positive label's logit;
            multilabel: the most likely label's logit), and ``contribution_baseline`` (every input absent).
            A table too large for memory is better predicted with :meth:`iter_predict_table`.
        """
        import pandas as pd

        chunks = list(self.iter_predict_table(table, root=root, top_k=top_k, explain=explain))
        return chunks[0] if len(chunks) == 1 else pd.concat(chunks)

    def iter_predict_table(self, table: Any, *, root: str | Path | None = None, top_k: int = 3,
                           chunk_rows: int = CHUNK_ROWS, explain: bool = False) -> Iterator[Any]:
        """:meth:`predict_table` a chunk of at most ``chunk_rows`` rows at a time: a file is read a chunk at a time
        (CSV/TSV by pandas' chunked reader, Parquet a record batch at a time), so memory holds one chunk whatever
        the table's size. The chunks, joined, are what :meth:`predict_table` returns; errors name the table's
        line or row as they do there.

        Raises:
            DataError: the table lacks a column the model reads (before any row is read), or a row's value
                cannot be used (naming its line or row).
        """
        if explain:
            self._check_explainable()
        for _, chunk, found in self._table_predictions(table, root, chunk_rows, drift=True, explain=explain):
            out = with_predictions(chunk.copy(), found.probabilities, self.labels, self.task, top_k, self.thresholds,
                                   self.run.label_sep)
            if found.attribution is not None:
                columns_at = self._explained_outputs(found.probabilities)
                rows_at = np.arange(len(columns_at))
                for m, phi in sorted(found.attribution.contributions.items()):
                    out[f"{CONTRIBUTION_PREFIX}{m}"] = phi[rows_at, columns_at]
                out[f"{CONTRIBUTION_PREFIX}baseline"] = found.attribution.baseline[rows_at, columns_at]
            for m, shares in (found.drift or {}).items():
                out[f"{DRIFT_PREFIX}{m}"] = shares
            yield out

    def _table_predictions(self, table: Any, root: str | Path | None, chunk_rows: int, **options: Any
                           ) -> Iterator[tuple[int, Any, Predictions]]:
        """(position of the chunk's first row, chunk, its :meth:`_predictions` with ``options``) for each chunk of
        a table, the columns checked before any row is read."""
        source = TableInput.of(table, root)
        columns: dict[str, Any] = self.run.inputs.get("columns") or {m: m for m in self.modalities}
        source.check_columns(c for cols in columns.values() for c in ([cols] if isinstance(cols, str) else cols))
        for start, chunk in source.chunks(chunk_rows):
            first = source.first_row + start
            yield start, chunk, self._predictions(samples_of(chunk, columns), root=source.root, source=source.source,
                                                  rows=range(first, first + len(chunk)), row_kind=source.row_kind,
                                                  **options)

    def _explained_outputs(self, probabilities: np.ndarray) -> np.ndarray:
        """Each row's explained output column: the predicted class, binary's one logit, multilabel's top label."""
        if self.task == "multilabel":
            return np.asarray(probabilities).argmax(axis=1)
        return decided_outputs(self.task, probabilities, self.thresholds)

    def _prediction(self, probabilities: np.ndarray, top_k: int, attribution: Attribution | None = None,
                    row: int = 0) -> Prediction:
        from ..tasks.decisions import decide, ranked
        from ..tasks.thresholds import as_mapping

        order = ranked(probabilities)
        top = [(self.labels[i], float(probabilities[i])) for i in order[:max(1, top_k)]]
        every = {label: float(p) for label, p in zip(self.labels, probabilities)}
        chosen = decide(self.task, probabilities[None, :], self.thresholds)[0]
        thresholds = None if self.task == "multiclass" else as_mapping(self.task, self.labels, self.thresholds or [])
        names = ([self.labels[i] for i in order if chosen[i]] if self.task == "multilabel"
                 else [self.labels[int(chosen)]])
        explanation = None
        if attribution is not None:
            column = int(self._explained_outputs(probabilities[None, :])[0])
            label = self.labels[1] if self.task == "binary" else self.labels[column]
            of = (f"the logit of '{label}' less the mean logit" if self.engine.centred
                  else f"the logit (log-odds) of '{label}'")
            if self.run.temperature is not None:
                of += ", divided by the run's temperature"
            explanation = {"label": label, "of": of, "exact": attribution.exact,
                           **row_explanation(attribution, row, column)}
        return Prediction(names[0] if names else None, every[names[0]] if names else 0.0, top, every, labels=names,
                          task=self.task, thresholds=thresholds, explanation=explanation)


def _is_image_struct(value: Mapping[str, Any]) -> bool:
    """Hugging Face's image cell ``{bytes, path}`` is one value, not a row of columns."""
    return set(value) <= {"bytes", "path"} and "bytes" in value
