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
from ..run.load import LoadedRun
from .wrapper import feeds_for


def split_table(run: LoadedRun, split: str, rows: int, *, seed: int = 0) -> tuple[Any, str | None]:
    """The prepared tables with only (up to ``rows`` of) one split, or None and why not."""
    from ..data.tables import load_prepared_tables

    data = run.spec.data
    if data is None or data.source is None:
        return None, "the run was trained on DataFrames (its spec names no data.source to read rows from)"
    try:
        prepared = load_prepared_tables(data)
    except MMFusionError as exc:  # data moved or offline: quantising still works, it just cannot be checked
        return None, f"its data could not be read ({str(exc).splitlines()[0]})"
    table = prepared.tables.get(split)
    if table is None or len(table) == 0:
        what = "validation split (data.split.validation)" if split == "validation" else f"{split} rows"
        return None, f"the run's data has no {what}"
    if len(table) > rows:  # a random subset: tables are often grouped (by image, by class)
        table = table.sample(n=rows, random_state=seed).sort_index()
    return replace(prepared, tables={split: table}), None


def split_batches(run: LoadedRun, split: str, rows: int, *, batch_size: int = 64, with_labels: bool = True,
                  prepared: Any = None) -> tuple[Callable[[], Iterator[Any]] | None, str | None]:
    """Up to ``rows`` rows of ``split`` (of ``prepared``, when the caller read them with :func:`split_table`) as
    prepared batches (no feature cache), decoded anew on every call of the returned function (so that a thousand
    decoded pictures are never held at once), or None and why not."""
    from ..data.labels import LabelSet
    from ..data.pipeline import build_pipeline

    if prepared is None:
        prepared, reason = split_table(run, split, rows)
        if prepared is None:
            return None, reason
    labels = LabelSet(run.labels, task=run.task, sep=run.label_sep)
    pipeline = build_pipeline(run.model, run.spec.data, prepared, labels, splits=[split], cache=False)

    def batches() -> Iterator[Any]:
        return (b for b in pipeline.batches(split, batch_size) if not with_labels or b.labels is not None)

    if with_labels and next(batches(), None) is None:
        return None, f"no {split} row has a usable label"
    return batches, None


@dataclass
class CheckSet:
    """Validation rows (decoded again for each model compared), their labels and the fp32 model's logits."""

    batches: Callable[[], Iterator[Any]]
    names: Sequence[str]
    labels: np.ndarray
    fp32_logits: np.ndarray
    run: LoadedRun

    @classmethod
    def for_run(cls, run: LoadedRun, names: Sequence[str], fp32: Any, *, rows: int,
                batch_size: int = 64) -> CheckSet | str:
        """The check set of up to ``rows`` validation rows, or the reason there is none."""
        batches, reason = split_batches(run, "validation", rows, batch_size=batch_size)
        if batches is None:
            return str(reason)
        labels, logits = [], []
        for batch in batches():
            labels.append(batch.labels.numpy())
            logits.append(fp32.run(None, feeds_for(names, batch))[0])
        return cls(batches, names, np.concatenate(labels), np.concatenate(logits), run)

    def compare(self, int8: Any) -> dict[str, Any]:
        """Accuracy (multilabel: subset accuracy) of fp32 and ``int8`` on these rows, and their agreement."""
        import torch

        from ..tasks.decisions import decide
        from ..tasks.metrics import task_metrics
        from ..tasks.scores import scores_for

        run = self.run
        int8_logits = np.concatenate([int8.run(None, feeds_for(self.names, b))[0] for b in self.batches()])
        scores = scores_for(run.task, run.spec.train.loss)
        both = {k: scores(torch.from_numpy(v).float()).numpy()
                for k, v in (("fp32", self.fp32_logits), ("int8", int8_logits))}
        metric = "subset_accuracy" if run.task == "multilabel" else "accuracy"
        y = self.labels
        got = {k: task_metrics(run.task, y, s, run.thresholds)[metric] for k, s in both.items()}
        chosen = {k: decide(run.task, s, run.thresholds).reshape(len(y), -1) for k, s in both.items()}
        diff = np.abs(self.fp32_logits - int8_logits)
        return {"checked": True, "rows": int(len(y)), "metric": metric, "fp32": round(got["fp32"], 6),
                "int8": round(got["int8"], 6), "drop_points": round(100 * (got["fp32"] - got["int8"]), 4),
                "agreement": round(float((chosen["fp32"] == chosen["int8"]).all(axis=1).mean()), 6),
                "max_abs_logit_diff": round(float(diff.max()), 6)}


def compare_on_validation(run: LoadedRun, names: Sequence[str], fp32: Any, int8: Any, *, rows: int,
                          batch_size: int = 64) -> dict[str, Any]:
    """:meth:`CheckSet.compare` on up to ``rows`` validation rows; ``checked: False`` with a ``reason`` when the
    run has no validation rows that can be read."""
    check = CheckSet.for_run(run, names, fp32, rows=rows, batch_size=batch_size)
    if isinstance(check, str):
        return {"checked": False, "reason": check}
    return check.compare(int8)
