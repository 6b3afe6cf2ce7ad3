"""Multilabel cells (a list of names, or names joined by ``data.label_sep``) and which task a label column implies.

An empty cell is a missing label (``data.unlabelled`` decides); a cell that holds an empty list (or only
separators, like ``;``) is a row with none of the labels, which is valid multilabel data.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..interfaces.modality import is_empty_cell
from .cells import label_text

if TYPE_CHECKING:
    import pandas as pd

    from ..spec.data_spec import DataSpec


def is_label_list(value: Any) -> bool:
    """True for a cell holding several labels (a list, tuple or array): multi-label data."""
    return isinstance(value, (list, tuple, np.ndarray))


def label_names(value: Any, sep: str | None) -> list[str] | None:
    """The labels of one multilabel cell, or None for an empty (missing) cell."""
    if is_label_list(value):
        return [label_text(v) for v in value if not is_empty_cell(v)]
    if is_empty_cell(value):
        return None
    text = label_text(value)
    parts = text.split(sep) if sep else [text]
    return [p.strip() for p in parts if p.strip()]


def column_labels(table: pd.DataFrame, column: str, task: str, sep: str | None) -> list[str]:
    """The sorted distinct labels of a label column: the union of each cell's labels for multilabel data."""
    if task == "multilabel":
        return sorted({label for value in table[column].tolist() for label in label_names(value, sep) or []})
    return sorted({label_text(v) for v in table[column] if not is_empty_cell(v)})


def holds_lists(table: pd.DataFrame, column: str) -> int:
    """How many cells of ``column`` hold lists of labels (0 when the column is missing)."""
    if column not in table.columns:
        return 0
    return sum(1 for v in table[column] if is_label_list(v))


def infer_task(data: DataSpec, table: pd.DataFrame, column: str) -> tuple[str, str]:
    """The task of the data and why: ``data.task`` as given, else multilabel for lists or ``label_sep``.

    Two distinct labels stay multiclass unless the spec says ``task: binary``: a binary model has one
    output and other metrics, which must not change under a run that never asked for it.
    """
    if data.task is not None:
        return data.task, "data.task"
    if data.label_sep is not None:
        return "multilabel", f"data.label_sep is set ({data.label_sep!r})"
    if holds_lists(table, column):
        return "multilabel", f"the label column '{column}' holds lists of labels"
    return "multiclass", "the default"
