"""The label set: names in output order, and encoding label columns with errors naming the rows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..errors import DataError
from ..interfaces.modality import is_empty_cell

if TYPE_CHECKING:
    import pandas as pd


def _user_columns(table: pd.DataFrame) -> list[str]:
    from .tables import user_columns

    return user_columns(table)


def _rows(rows: Sequence[int], limit: int = 8) -> str:
    shown = ", ".join(str(r) for r in rows[:limit])
    return shown + (f" and {len(rows) - limit} more" if len(rows) > limit else "")


class LabelSet:
    """Class names in the order of the model's outputs."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = [str(n) for n in names]
        self.index = {name: i for i, name in enumerate(self.names)}

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
        values = sorted({str(v).strip() for v in table[column] if not is_empty_cell(v)})
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
        for i, value in enumerate(table[column].tolist()):
            if is_empty_cell(value):
                empty.append(row_numbers[i])
                continue
            key = str(value).strip()
            if key not in self.index:
                unknown.setdefault(key, []).append(row_numbers[i])
                continue
            ids[i] = self.index[key]
        problems = []
        if empty:
            problems.append(f"empty label in {row_kind}s {_rows(empty)}")
        for label, rows in sorted(unknown.items()):
            problems.append(f"unknown label '{label}' in {row_kind}s {_rows(rows)}")
        if problems:
            known = ", ".join(self.names)
            raise DataError(f"{where}, column '{column}': " + "; ".join(problems)
                            + f". Known labels: {known} (list them all in data.labels to add some).")
        return ids
