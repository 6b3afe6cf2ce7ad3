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
    """What a dataset source provides: the tables (no ``validation`` table: one is split off ``train``) and the
    defaults a spec may leave out."""

    train: pd.DataFrame
    validation: pd.DataFrame | None = None
    test: pd.DataFrame | None = None
    #: folder that relative image paths are resolved against
    root: Path | None = None
    #: modality → column(s), used when the spec gives none
    columns: dict[str, str | list[str]] = field(default_factory=dict)
    label_column: str | None = None
    #: the labels of ``label_column`` in a meaningful order, when the source knows it (a spec that picks another
    #: label column gets that column's labels instead)
    labels: list[str] | None = None
    #: display names of the tables' sources (file names) for error messages
    names: dict[str, str] = field(default_factory=dict)
    #: the number users see for a table's first data row (CSV files: 2, its line number; DataFrames: 0), and what
    #: those numbers count: "line" (files) or "row" (DataFrames)
    first_row: int = 0
    row_kind: str = "row"
    #: rows sharing a value here (one image with several questions) stay in one split when rows are split off train
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
