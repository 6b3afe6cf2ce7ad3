"""Reading tables from files: CSV, TSV, Parquet."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import DataError


def read_table(path: Path, fmt: str = "auto") -> Any:
    """Read one table; CSV cells are kept as text and only empty cells count as missing."""
    import pandas as pd

    if not path.is_file():
        raise DataError(f"data file {path} does not exist")
    kind = fmt if fmt != "auto" else {".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet"}.get(
        path.suffix.lower(), "csv")
    try:
        if kind == "parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path, sep="\t" if kind == "tsv" else ",", dtype=str, keep_default_na=False,
                           na_values=[""])
    except Exception as exc:
        raise DataError(f"cannot read {path} as {kind}: {type(exc).__name__}: {exc}") from None
