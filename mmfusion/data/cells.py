"""Cells and rows of a table as messages name them: label text, row lists, the columns the user wrote.

The lowest module of :mod:`mmfusion.data`: labels, label lists and tables all use it, and it uses none of them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

#: the column of user-facing row numbers every prepared table carries
ROW_COLUMN = "__mmfusion_row__"

#: ``DataFrame.attrs`` key of a file's columns when only some of them were read (evaluation reads what it needs)
FILE_COLUMNS = "mmfusion_file_columns"


def user_columns(table: pd.DataFrame) -> list[str]:
    """The table's column names as the user wrote them (without mmfusion's row-number column), for messages: all
    of the file's, also when only some were read."""
    return [str(c) for c in table.attrs.get(FILE_COLUMNS) or table.columns if c != ROW_COLUMN]


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


def format_rows(rows: Sequence[int], limit: int = 8) -> str:
    shown = ", ".join(str(r) for r in rows[:limit])
    return shown + (f" and {len(rows) - limit} more" if len(rows) > limit else "")
