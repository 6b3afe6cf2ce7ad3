"""Dataset source ``csv``: CSV, TSV or Parquet files for train and, optionally, validation and test."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from ..data.files import read_table, row_numbering
from ..errors import DataError
from ..hookspecs import hookimpl
from ..interfaces.config import DatasetConfig
from ..interfaces.dataset import DatasetSource, DatasetTables
from ..interfaces.locations import SpecLocation


class CsvConfig(DatasetConfig):
    type: Literal["csv"] = "csv"
    train: SpecLocation = Field(description="Training table (.csv, .tsv or .parquet).")
    validation: SpecLocation | None = Field(None, description="Validation table (default: split off train).")
    test: SpecLocation | None = Field(None, description="Test table.")
    image_root: SpecLocation | None = Field(
        None, description="Folder relative image paths are resolved against (default: the train file's folder).")
    format: Literal["auto", "csv", "tsv", "parquet"] = Field("auto", description="auto: from the file suffix.")


class CsvDataset(DatasetSource):
    """Tables from files; image paths inside them resolve against ``image_root``."""

    name = "csv"
    Config = CsvConfig
    config: CsvConfig

    def load(self) -> DatasetTables:
        cfg = self.config
        paths = {split: Path(getattr(cfg, split)) for split in ("train", "validation", "test") if getattr(cfg, split)}
        tables = {split: read_table(path, cfg.format) for split, path in paths.items()}
        root = Path(cfg.image_root) if cfg.image_root else paths["train"].resolve().parent
        if not root.is_dir():
            raise DataError(f"image_root {root} is not a folder")
        first_row, row_kind = row_numbering(paths["train"], cfg.format)
        return DatasetTables(train=tables["train"], validation=tables.get("validation"), test=tables.get("test"),
                             root=root, names={split: path.name for split, path in paths.items()},
                             first_row=first_row, row_kind=row_kind)


@hookimpl
def mmfusion_datasets() -> list[type]:
    return [CsvDataset]
