"""Reading tables from files: CSV, TSV, Parquet, with errors that name the file and say what is wrong."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from ..errors import DataError


def read_table(path: Path, fmt: str = "auto") -> Any:
    """Read one table; CSV cells are kept as text and only empty cells count as missing.

    Raises:
        DataError: the file is missing, a folder, empty, has a header but no rows, repeats a column name,
            is not UTF-8 (naming the line), or cannot be parsed as its format.
    """
    import pandas as pd

    if path.is_dir():
        raise DataError(f"data file {path} is a folder, not a table file")
    if not path.is_file():
        raise DataError(f"data file {path} does not exist")
    kind = fmt if fmt != "auto" else {".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet"}.get(
        path.suffix.lower(), "csv")
    if path.stat().st_size == 0:
        raise DataError(f"data file {path} is empty (0 bytes): no header, no rows")
    try:
        if kind == "parquet":
            table = _read_parquet(path)
        else:
            sep = "\t" if kind == "tsv" else ","
            _check_header(path, sep)
            table = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, na_values=[""])
    except DataError:
        raise
    except UnicodeDecodeError:
        raise DataError(_not_utf8(path)) from None
    except pd.errors.EmptyDataError:
        raise DataError(f"data file {path} holds no header and no rows (only blank lines)") from None
    except Exception as exc:
        hint = (" (is it really Parquet? data.source.format: csv reads a file as CSV whatever its name)"
                if kind == "parquet" else "")
        raise DataError(f"cannot read {path} as {kind}: {type(exc).__name__}: {exc}{hint}") from None
    if len(table) == 0:
        columns = ", ".join(str(c) for c in table.columns)
        raise DataError(f"data file {path} has a header ({columns}) but no rows")
    return table


def _read_parquet(path: Path) -> Any:
    import pandas as pd

    try:
        import pyarrow.parquet as pq
    except ImportError:
        pq = None
    if pq is not None:  # pyarrow's own error for repeated names is cryptic
        _check_names(path, [str(c) for c in pq.read_schema(path).names])
    try:
        return pd.read_parquet(path)
    except ImportError:
        raise DataError(f"reading {path} needs a Parquet engine: pip install 'mmfusion[parquet]' (pyarrow)") from None


def _check_header(path: Path, sep: str) -> None:
    """Refuse repeated column names: pandas would silently rename the second ``text`` to ``text.1``."""
    import pandas as pd

    try:
        header = pd.read_csv(path, sep=sep, header=None, nrows=1, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        return  # blank lines only: reported by the full read
    _check_names(path, [str(v).strip() for v in header.iloc[0].tolist()] if len(header) else [])


def _check_names(path: Path, names: list[str]) -> None:
    repeated = {name: n for name, n in Counter(names).items() if n > 1 and name}
    if repeated:
        shown = "; ".join(
            f"'{name}' (columns {', '.join(str(i + 1) for i, v in enumerate(names) if v == name)})"
            for name in repeated)
        raise DataError(f"data file {path}: repeated column name(s) in the header: {shown}. Each column needs its "
                        "own name; rename or remove the extra ones.")


def _not_utf8(path: Path) -> str:
    """Where the first byte that is not UTF-8 is, as a line number (pandas reports a position in a buffer)."""
    data = path.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return (f"data file {path} is UTF-16 text; save it as UTF-8 (e.g. Excel's 'CSV UTF-8', or "
                f"`iconv -f UTF-16 -t UTF-8`)")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        offset = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        byte = data[exc.start:exc.start + 1].hex()
        return (f"data file {path} is not UTF-8 text: line {line} has the byte 0x{byte} (byte {offset} of the "
                "line). "
                "Save the file as UTF-8 (e.g. Excel's 'CSV UTF-8', or `iconv -f latin1 -t UTF-8`)")
    return f"data file {path} is not UTF-8 text; save it as UTF-8"
