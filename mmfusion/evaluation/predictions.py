"""Per-sample test predictions of a run (``predictions.npz``): what paired tests, ensembles and per-group
metrics are computed from, without running the model again.

The file is a NumPy archive read with ``allow_pickle=False``: ``rows`` (the table's row numbers, as in error
messages), ``labels`` (class ids, or multi-hot rows for multilabel), ``probabilities`` (float32, one column
per label), ``label_names``, ``task`` and, for multilabel and binary runs, ``thresholds`` (one per label).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import MMFusionError
from ..io import write_atomic

FILE = "predictions.npz"


@dataclass(frozen=True)
class SamplePredictions:
    """One run's scores for every evaluated row, with the true labels."""

    rows: np.ndarray
    labels: np.ndarray
    probabilities: np.ndarray
    label_names: list[str]
    task: str = "multiclass"
    thresholds: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.rows)


def write_predictions(path: Path, predictions: SamplePredictions) -> Path:
    """Write ``predictions`` compressed and atomically (float32 scores: a tenth of a MB per 10,000 rows × 13)."""
    arrays = {"rows": np.asarray(predictions.rows, dtype=np.int64),
              "labels": np.asarray(predictions.labels, dtype=np.int64),
              "probabilities": np.asarray(predictions.probabilities, dtype=np.float32),
              "label_names": np.asarray(predictions.label_names, dtype=str),
              "task": np.asarray(predictions.task)}
    if predictions.thresholds is not None:
        arrays["thresholds"] = np.asarray(predictions.thresholds, dtype=np.float64)

    def write(tmp: str) -> None:
        with open(tmp, "wb") as handle:  # a handle: given a name, NumPy would append another ".npz"
            np.savez_compressed(handle, **arrays)

    write_atomic(Path(path), write)
    return Path(path)


def read_predictions(path: str | Path) -> SamplePredictions:
    """Read a ``predictions.npz``.

    Raises:
        MMFusionError: the file is missing or not a predictions file (the path named, and how to rewrite it).
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            thresholds = data["thresholds"] if "thresholds" in data.files else None
            return SamplePredictions(rows=data["rows"], labels=data["labels"], probabilities=data["probabilities"],
                                     label_names=[str(n) for n in data["label_names"]], task=str(data["task"]),
                                     thresholds=thresholds)
    except (OSError, KeyError, ValueError) as exc:
        raise MMFusionError(f"cannot read per-sample predictions {path}: {exc}; `mmfusion evaluate RUN` writes "
                            "them again") from None

