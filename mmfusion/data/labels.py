"""The label set: names in output order and the task, and encoding label columns with errors naming the rows.

Targets per task: multiclass and binary rows get one label id (binary: 0 or 1, the positive label second),
multilabel rows a multi-hot vector (:mod:`.label_lists`).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import DataError
from ..interfaces.modality import is_empty_cell
from ..tasks.definitions import num_outputs
from .cells import format_rows, label_text, user_columns
from .label_lists import column_labels, holds_lists, is_label_list, label_names

if TYPE_CHECKING:
    import pandas as pd


def _number(text: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def unlabelled_rows(table: pd.DataFrame, column: str) -> np.ndarray:
    """A mask of the rows whose label cell is empty, blank or NaN."""
    return np.array([is_empty_cell(v) for v in table[column].tolist()], dtype=bool)


def _multilabel_problem(column: str, count: int, task: str, row_kind: str = "row", rows: str | None = None) -> str:
    where = f" ({rows})" if rows else ""
    return (f"column '{column}' holds a list of labels in {count} {row_kind}(s){where}: multi-label data, but "
            f"data.task is {task}. Set data.task: multilabel (or leave data.task out: lists imply it), or set "
            "data.label to a column with one label per row.")


class LabelSet:
    """Label names in output order (binary: the negative, then the positive label), the task they are predicted for
    (multiclass, multilabel or binary) and, for multilabel, the separator of labels in a text cell (``data.label_sep``).
    """

    def __init__(self, names: Sequence[str], *, task: str = "multiclass", sep: str | None = None) -> None:
        self.task = task
        self.sep = sep
        self.names = [str(n) for n in names]
        self.index = {name: i for i, name in enumerate(self.names)}
        # numeric names also match their other spellings ("1.0" in a CSV for the label 1 of a Parquet file),
        # unless two names are the same number
        numbers = [(_number(name), i) for i, name in enumerate(self.names)]
        counts = Counter(number for number, _ in numbers if number is not None)
        self.by_number = {n: i for n, i in numbers if n is not None and counts[n] == 1}

    def lookup(self, value: Any) -> int | None:
        """The id of a label cell's class, or None when it names none."""
        key = label_text(value)
        if key in self.index:
            return self.index[key]
        number = _number(key)
        return self.by_number.get(number) if number is not None else None

    def __len__(self) -> int:
        return len(self.names)

    @property
    def num_outputs(self) -> int:
        """The model's outputs: one per label, or one logit for binary."""
        return num_outputs(self.task, len(self.names))

    @property
    def positive(self) -> str | None:
        """Binary: the label the one logit scores (the second name); None for other tasks."""
        return self.names[1] if self.task == "binary" else None

    @classmethod
    def from_training_data(cls, table: pd.DataFrame, column: str, *, given: Sequence[str] | None,
                           source_order: Sequence[str] | None, where: str, task: str = "multiclass",
                           sep: str | None = None, positive: str | None = None) -> LabelSet:
        """Labels listed in the spec, else the source's, else the sorted distinct labels of the training table.

        Binary: exactly two, reordered so that ``positive`` (default: the second) comes second.
        """
        names = list(given or source_order or [])
        if not names:
            if column not in table.columns:
                raise DataError(f"{where}: no label column '{column}'; columns are "
                                f"{', '.join(user_columns(table))}. Set data.label to the column that holds the "
                                "labels.")
            if task != "multilabel" and (lists := holds_lists(table, column)):
                raise DataError(f"{where}: {_multilabel_problem(column, lists, task)}")
            names = column_labels(table, column, task, sep)
            if len(names) < 2:
                need = ("a multilabel classifier needs at least 2 (for one yes/no label use data.task: binary)"
                        if task == "multilabel" else "a classifier needs at least 2")
                raise DataError(f"{where}: column '{column}' holds {len(names)} distinct label(s); {need}")
        if task == "binary":
            names = _binary_order(names, positive, where, column)
        return cls(names, task=task, sep=sep)

    def encode(self, table: pd.DataFrame, column: str, row_numbers: Sequence[int], where: str,
               row_kind: str = "row") -> np.ndarray:
        """Targets for every row: label ids, or ``[N, L]`` float32 multi-hot rows for multilabel. Empty cells and
        unknown labels are one error naming their rows."""
        if column not in table.columns:
            raise DataError(f"{where}: no label column '{column}'; columns are {', '.join(user_columns(table))}")
        values = table[column].tolist()
        multilabel = self.task == "multilabel"
        lists = [] if multilabel else sorted(row_numbers[i] for i, value in enumerate(values) if is_label_list(value))
        if lists:
            rows = f"{row_kind}s {format_rows(lists)}"
            raise DataError(f"{where}: {_multilabel_problem(column, len(lists), self.task, row_kind, rows)}")
        targets = np.zeros((len(values), len(self.names)) if multilabel else len(values),
                           np.float32 if multilabel else np.int64)
        empty, unknown = [], {}
        for i, value in enumerate(values):
            labels = label_names(value, self.sep) if multilabel else None if is_empty_cell(value) else [value]
            if labels is None:
                empty.append(row_numbers[i])
            for label in labels or []:
                found = self.lookup(label)
                if found is None:
                    unknown.setdefault(label_text(label), []).append(row_numbers[i])
                elif multilabel:
                    targets[i, found] = 1.0
                else:
                    targets[i] = found
        problems = [f"empty label in {row_kind}s {format_rows(empty)} (fill them in, or set data.unlabelled: drop to "
                    "leave such rows out)"] if empty else []
        problems += [f"unknown label '{label}' in {row_kind}s {format_rows(rows)}"
                     for label, rows in sorted(unknown.items())]
        if problems:
            hint = (f" Labels in one cell are separated by {self.sep!r} (data.label_sep)."
                    if multilabel and self.sep else "")
            raise DataError(f"{where}, column '{column}': " + "; ".join(problems) + f". Known labels: "
                            f"{', '.join(self.names)} (list them all in data.labels to add some).{hint}")
        return targets


def _binary_order(names: Sequence[str], positive: str | None, where: str, column: str) -> list[str]:
    """The two labels of binary data, the positive one second (a DataError unless there are two, with ``positive``
    among them)."""
    if len(names) != 2:
        shown = ", ".join(names[:10]) + (" ..." if len(names) > 10 else "")
        raise DataError(f"{where}: data.task is binary, but column '{column}' holds {len(names)} distinct labels "
                        f"({shown}); binary needs exactly two. Use data.task: multiclass (or leave it out) for more.")
    if positive is None:
        return list(names)
    if positive not in names:
        raise DataError(f"{where}: data.positive_label '{positive}' is not one of the labels of column '{column}' "
                        f"({', '.join(names)})")
    return [n for n in names if n != positive] + [positive]
