"""The label set: names in output order, and encoding label columns with errors naming the rows."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import DataError
from ..interfaces.modality import is_empty_cell

if TYPE_CHECKING:
    import pandas as pd


def _user_columns(table: pd.DataFrame) -> list[str]:
    from .tables import user_columns

    return user_columns(table)


def label_text(value: Any) -> str:
    """A label cell as a class name: numbers read from Parquet or DataFrames as 1 or 1.0 are both "1"."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)) and math.isfinite(value) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


def _number(text: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def unlabelled_rows(table: pd.DataFrame, column: str) -> np.ndarray:
    """A mask of the rows whose label cell is empty, blank or NaN."""
    return np.array([is_empty_cell(v) for v in table[column].tolist()], dtype=bool)


def is_label_list(value: Any) -> bool:
    """True for a cell holding several labels (a list, tuple or array): multi-label data."""
    return isinstance(value, (list, tuple, np.ndarray))


def _multilabel_problem(column: str, count: int, row_kind: str = "row", rows: str | None = None) -> str:
    where = f" ({rows})" if rows else ""
    return (f"column '{column}' holds a list of labels in {count} {row_kind}(s){where}: multi-label data, which "
            "single-label classification cannot use (multi-label training is not available yet). Set data.label "
            "to a column with one label per row.")


def format_rows(rows: Sequence[int], limit: int = 8) -> str:
    shown = ", ".join(str(r) for r in rows[:limit])
    return shown + (f" and {len(rows) - limit} more" if len(rows) > limit else "")


class LabelSet:
    """Class names in the order of the model's outputs."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = [str(n) for n in names]
        self.index = {name: i for i, name in enumerate(self.names)}
        # numeric names also match their other spellings ("1.0" in a CSV for the label 1 of a Parquet file),
        # unless two names are the same number
        numbers = [(_number(name), i) for i, name in enumerate(self.names)]
        counts: dict[float, int] = {}
        for number, _ in numbers:
            if number is not None:
                counts[number] = counts.get(number, 0) + 1
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

    @classmethod
    def from_training_data(cls, table: pd.DataFrame, column: str, *, given: Sequence[str] | None,
                           source_order: Sequence[str] | None, where: str) -> LabelSet:
        """Labels listed in the spec, else the source's, else the sorted distinct labels of the training table."""
        if given:
            return cls(given)
        if source_order:
            return cls(source_order)
        if column not in table.columns:
            raise DataError(f"{where}: no label column '{column}'; columns are {', '.join(_user_columns(table))}. "
                            "Set data.label to the column that holds the labels.")
        lists = sum(1 for v in table[column] if is_label_list(v))
        if lists:
            raise DataError(f"{where}: {_multilabel_problem(column, lists)}")
        values = sorted({label_text(v) for v in table[column] if not is_empty_cell(v)})
        if len(values) < 2:
            raise DataError(f"{where}: column '{column}' holds {len(values)} distinct label(s); a classifier "
                            "needs at least 2")
        return cls(values)

    def encode(self, table: pd.DataFrame, column: str, row_numbers: Sequence[int], where: str,
               row_kind: str = "row") -> np.ndarray:
        """Label ids for every row; empty or unknown labels are an error naming the rows."""
        if column not in table.columns:
            raise DataError(f"{where}: no label column '{column}'; columns are {', '.join(_user_columns(table))}")
        ids = np.empty(len(table), dtype=np.int64)
        empty, unknown = [], {}
        values = table[column].tolist()
        lists = sorted(row_numbers[i] for i, value in enumerate(values) if is_label_list(value))
        if lists:
            rows = f"{row_kind}s {format_rows(lists)}"
            raise DataError(f"{where}: {_multilabel_problem(column, len(lists), row_kind, rows)}")
        for i, value in enumerate(values):
            if is_empty_cell(value):
                empty.append(row_numbers[i])
                continue
            found = self.lookup(value)
            if found is None:
                unknown.setdefault(label_text(value), []).append(row_numbers[i])
                continue
            ids[i] = found
        problems = []
        if empty:
            problems.append(f"empty label in {row_kind}s {format_rows(empty)} (fill them in, or set "
                            "data.unlabelled: drop to leave such rows out)")
        for label, rows in sorted(unknown.items()):
            problems.append(f"unknown label '{label}' in {row_kind}s {format_rows(rows)}")
        if problems:
            known = ", ".join(self.names)
            raise DataError(f"{where}, column '{column}': " + "; ".join(problems)
                            + f". Known labels: {known} (list them all in data.labels to add some).")
        return ids
