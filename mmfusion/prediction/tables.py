"""Predicting tables a chunk at a time, so that memory holds one chunk whatever the table's size.

A file is read in chunks (:func:`mmfusion.data.files.iter_table`) and a DataFrame is sliced; each chunk is
predicted and handed on with its prediction columns. ``mmfusion predict --csv`` writes each chunk's rows as
they come (:func:`table_text`); ``Predictor.predict_table`` joins the chunks into one DataFrame.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..data.files import CHUNK_ROWS, iter_table, row_numbering, table_columns
from ..errors import DataError
from ..inference.drift import DriftTally, InputDrift, InputReference
from ..tasks.decisions import decide, ranked

#: the prefix of the per-input drift columns of a predicted table
DRIFT_PREFIX = "drift_"
#: the prefix of the per-input contribution columns of a table predicted with ``explain``
CONTRIBUTION_PREFIX = "contribution_"


@dataclass(frozen=True)
class TableInput:
    """A table to predict: a DataFrame or a file, how messages name its rows, and where relative paths start."""

    source: str
    columns: list[str]
    first_row: int
    row_kind: str
    root: Path | None
    frame: Any = None
    path: Path | None = None

    @classmethod
    def of(cls, table: Any, root: str | Path | None = None) -> TableInput:
        """A DataFrame (rows numbered from 0) or a CSV/TSV/Parquet file (lines, or Parquet rows from 0)."""
        import pandas as pd

        first_row, row_kind = row_numbering(table)
        if isinstance(table, pd.DataFrame):
            return cls("DataFrame", [str(c) for c in table.columns], first_row, row_kind,
                       Path(root) if root else None, frame=table)
        path = Path(table)
        return cls(path.name, table_columns(path), first_row, row_kind, Path(root) if root else path.resolve().parent,
                   path=path)

    def check_columns(self, needed: Iterable[str]) -> None:
        """Raises DataError naming the columns the model reads that the table lacks."""
        missing = sorted(set(needed) - set(self.columns))
        if missing:
            raise DataError(f"{self.source} lacks the column(s) {', '.join(missing)} the model was trained with "
                            f"(columns: {', '.join(self.columns)})")

    def chunks(self, chunk_rows: int = CHUNK_ROWS) -> Iterator[tuple[int, Any]]:
        """(position of the chunk's first row in the table, chunk) pairs; an empty DataFrame is one empty chunk."""
        if self.frame is None:
            for chunk in iter_table(self.path, chunk_rows=chunk_rows):  # type: ignore[arg-type]
                yield int(chunk.index[0]), chunk
            return
        size = max(1, int(chunk_rows))
        for start in range(0, max(len(self.frame), 1), size):
            yield start, self.frame.iloc[start:start + size]


def samples_of(chunk: Any, columns: Mapping[str, str | list[str]]) -> list[dict[str, Any]]:
    """One sample per row: modality → its cell (or list of cells, for an input read from several columns)."""
    cells = {c: chunk[c].tolist() for cols in columns.values() for c in ([cols] if isinstance(cols, str) else cols)}
    return [{m: (cells[cols][i] if isinstance(cols, str) else [cells[c][i] for c in cols])
             for m, cols in columns.items()} for i in range(len(chunk))]


def with_predictions(out: Any, probabilities: np.ndarray, labels: Sequence[str], task: str, top_k: int,
                     thresholds: Any = None, label_sep: str | None = None) -> Any:
    """``out`` (a copy of the input rows) with the prediction columns that ``Predictor.predict_table`` documents."""
    chosen = decide(task, probabilities, thresholds)
    if task == "multilabel":
        out["predicted"] = [(label_sep or ";").join(n for n, on in zip(labels, row) if on) for row in chosen]
    else:
        out["predicted"] = [labels[i] for i in chosen]
    if task == "multiclass":
        out["probability"] = probabilities.max(axis=1)
        order = ranked(probabilities)[:, :top_k]
        for k in range(min(top_k, len(labels)) if top_k > 1 else 0):
            out[f"top{k + 1}"] = [labels[i] for i in order[:, k]]
            out[f"top{k + 1}_probability"] = probabilities[np.arange(len(order)), order[:, k]]
    for i, label in enumerate(labels):
        out[f"p_{label}"] = probabilities[:, i]
    return out


def table_text(chunks: Iterable[Any], fmt: str) -> Iterator[str]:
    """The text of the chunks joined into one table, a chunk at a time: CSV (one header) or a JSON list of records.

    The pieces join into exactly what ``to_csv(index=False)`` or ``to_json(orient="records", indent=2)`` of the
    whole table gives.
    """
    first, empty = True, "[]"
    for chunk in chunks:
        if fmt == "json":
            records = chunk.to_json(orient="records", indent=2)
            if len(chunk):  # "[\n  {...},\n  {...}\n]": the records without the brackets
                yield ("[\n" if first else ",\n") + records[2:-2]
                first = False
            else:
                empty = records  # what pandas writes for no records
        else:
            yield chunk.to_csv(index=False, header=first)
            first = False
    if fmt == "json":
        yield empty if first else "\n]"


def table_drift(table: Any, references: Mapping[str, InputReference], warn: Any = None) -> list[InputDrift]:
    """Each input's drift over a predicted table's ``drift_<input>`` columns (``Predictor.drift`` holds the
    references); other columns, whatever their names, are not read."""
    tally = DriftTally(references)
    for name in references:
        if f"{DRIFT_PREFIX}{name}" in table.columns:
            tally.add(name, table[f"{DRIFT_PREFIX}{name}"].to_numpy(dtype=float))
    return tally.report(warn)
