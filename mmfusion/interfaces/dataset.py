"""The dataset-source contract: a named source of labelled tables (train / validation / test)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from .config import DatasetConfig

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class DatasetTables:
    """What a dataset source provides.

    Attributes:
        train: the training table.
        validation: a validation table, or None to split one off ``train``.
        test: a test table, or None.
        root: folder that relative image paths are resolved against.
        columns: default modality → column(s) mapping, used when the spec gives none.
        label_column: default label column.
        labels: the labels of ``label_column`` in a meaningful order, when the source knows it (a spec that
            picks another label column gets that column's labels instead).
        names: display names of the tables' sources (file names) for error messages.
        first_row: the number users see for a table's first data row (2 for CSV files: their line
            number, the header being line 1; 0 for DataFrames: the positional index).
        row_kind: what those numbers count, for messages: "line" (files) or "row" (DataFrames).
        group_column: rows sharing a value here (e.g. one image with several questions) are kept
            in the same split when validation/test rows are split off train.
    """

    train: pd.DataFrame
    validation: pd.DataFrame | None = None
    test: pd.DataFrame | None = None
    root: Path | None = None
    columns: dict[str, str | list[str]] = field(default_factory=dict)
    label_column: str | None = None
    labels: list[str] | None = None
    names: dict[str, str] = field(default_factory=dict)
    first_row: int = 0
    row_kind: str = "row"
    group_column: str | None = None


class DatasetSource:
    """Base class of dataset sources: built with its config, :meth:`load` returns the tables."""

    name: ClassVar[str]
    Config: ClassVar[type[DatasetConfig]]

    def __init__(self, config: DatasetConfig) -> None:
        self.config = config

    def load(self) -> DatasetTables:  # pragma: no cover - abstract
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        return self.config.model_dump(mode="json")
