"""The int8 model against the fp32 one on rows of the run's own data: the metric each reaches, and how often
their predictions agree (a finer signal than the metric on a few hundred rows).

The fp32 model runs on the rows once (:class:`CheckSet`), so that several int8 candidates (which convolutions
stay fp32) can be compared on the same rows at the cost of decoding them again and the int8 runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..errors import MMFusionError
from ..inference.engine import InferenceEngine, Predictions
from ..run.load import LoadedRun


def split_batches(run: LoadedRun, split: str, rows: int, *, batch_size: int = 64, with_labels: bool = True,
                  seed: int = 0) -> tuple[Callable[[], Iterator[Any]] | None, int, str | None]:
    """Up to ``rows`` rows of ``split`` (a random subset: tables are often grouped, by image or class) as prepared
    batches (no feature cache), decoded anew on every call of the returned function (so that a thousand decoded
    pictures are never held at once), and how many rows; or None, 0 and why not."""
    from ..data.labels import LabelSet
    from ..data.pipeline import build_pipeline
    from ..data.tables import load_prepared_tables

    data = run.spec.data
    if data is None or data.source is None:
        return None, 0, "the run was trained on DataFrames (its spec names no data.source to read rows from)"
    try:
        prepared = load_prepared_tables(data)
    except MMFusionError as exc:  # data moved or offline: quantising still works, it just cannot be checked
        return None, 0, f"its data could not be read ({str(exc).splitlines()[0]})"
    table = prepared.tables.get(split)
    if table is None or len(table) == 0:
        what = "validation split (data.split.validation)" if split == "validation" else f"{split} rows"
        return None, 0, f"the run's data has no {what}"
    if len(table) > rows:
        table = table.sample(n=rows, random_state=seed).sort_index()
    labels = LabelSet(run.labels, task=run.task, sep=run.label_sep)
    pipeline = build_pipeline(run.model, data, replace(prepared, tables={split: table}), labels, splits=[split],
                              cache=False)

    def batches() -> Iterator[Any]:
        return (b for b in pipeline.batches(split, batch_size) if not with_labels or b.labels is not None)

    if with_labels and next(batches(), None) is None:
        return None, 0, f"no {split} row has a usable label"
    return batches, len(table), None


@dataclass
class CheckSet:
    """Validation rows (decoded again for each model compared), their labels and the fp32 model's predictions."""

    batches: Callable[[], Iterator[Any]]
    names: Sequence[str]
    labels: np.ndarray
    fp32: Predictions
    run: LoadedRun

    @classmethod
    def for_run(cls, run: LoadedRun, names: Sequence[str], fp32: Any, *, rows: int,
                batch_size: int = 64) -> CheckSet | str:
        """The check set of up to ``rows`` validation rows, or the reason there is none."""
        batches, _, reason = split_batches(run, "validation", rows, batch_size=batch_size)
        if batches is None:
            return str(reason)
        scored = _engine(run, fp32, names).predict(batches())
        return cls(batches, names, scored.labels, scored, run)  # type: ignore[arg-type]

    def compare(self, int8: Any) -> dict[str, Any]:
        """Accuracy (multilabel: subset accuracy) of fp32 and ``int8`` on these rows, and their agreement."""
        from ..tasks.decisions import decide
        from ..tasks.metrics import task_metrics

        run = self.run
        both = {"fp32": self.fp32, "int8": _engine(run, int8, self.names).predict(self.batches())}
        metric = "subset_accuracy" if run.task == "multilabel" else "accuracy"
        y = self.labels
        got = {k: task_metrics(run.task, y, s.probabilities, run.thresholds)[metric] for k, s in both.items()}
        chosen = {k: decide(run.task, s.probabilities, run.thresholds).reshape(len(y), -1) for k, s in both.items()}
        diff = np.abs(both["fp32"].logits - both["int8"].logits)  # type: ignore[operator]
        return {"checked": True, "rows": int(len(y)), "metric": metric, "fp32": round(got["fp32"], 6),
                "int8": round(got["int8"], 6), "drop_points": round(100 * (got["fp32"] - got["int8"]), 4),
                "agreement": round(float((chosen["fp32"] == chosen["int8"]).all(axis=1).mean()), 6),
                "max_abs_logit_diff": round(float(diff.max()), 6)}


def _engine(run: LoadedRun, session: Any, names: Sequence[str]) -> InferenceEngine:
    """The inference engine over one ONNX Runtime session of the run's model (fp32 or int8)."""
    return InferenceEngine.for_onnx(session, names, run.spec.train, run.model.num_classes, task=run.task,
                                    temperature=run.temperature)
