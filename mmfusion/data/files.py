"""Reading tables from files: CSV, TSV, Parquet, with errors that name the file and say what is wrong.

One reader (:func:`iter_table`, a chunk at a time; :func:`read_table` joins its chunks) and one rule for how
messages number a table's rows (:func:`row_numbering`), whoever reads the table: training, evaluate, predict.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ..errors import DataError

#: rows per chunk when a table is read a part at a time (:func:`iter_table`): a few MB of cells, enough that
#: per-chunk overheads (a batch of predictions, a parse) are negligible
CHUNK_ROWS = 50_000


def table_kind(path: Path, fmt: str = "auto") -> str:
    """csv, tsv or parquet: ``fmt`` when given, else from the file's suffix (anything unknown is CSV)."""
    if fmt != "auto":
        return fmt
    return {".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet"}.get(Path(path).suffix.lower(), "csv")


def row_numbering(table: str | Path | Any, fmt: str = "auto") -> tuple[int, str]:
    """(first row's number, what the numbers count) in messages about a table file or a DataFrame.

    CSV/TSV files are numbered by line, the header being line 1 (what an editor shows); Parquet files and
    DataFrames by row position from 0.
    """
    if isinstance(table, (str, Path)) and table_kind(Path(table), fmt) != "parquet":
        return 2, "line"
    return 0, "row"


def _check_file(path: Path) -> None:
    if path.is_dir():
        raise DataError(f"data file {path} is a folder, not a table file")
    if not path.is_file():
        raise DataError(f"data file {path} does not exist")
    if path.stat().st_size == 0:
        raise DataError(f"data file {path} is empty (0 bytes): no header, no rows")


def read_table(path: Path, fmt: str = "auto", *, columns: Sequence[str] | None = None) -> Any:
    """Read one whole table: the chunks of :func:`iter_table` joined (CSV cells are kept as text and only empty
    cells count as missing).

    Raises:
        DataError: the file is missing, a folder, empty, has a header but no rows, repeats a column name,
            is not UTF-8 (naming the line), or cannot be parsed as its format.
    """
    import pandas as pd

    return pd.concat(iter_table(path, fmt, columns=columns), ignore_index=True)


def _read_error(path: Path, kind: str, exc: Exception) -> DataError:
    """The DataError for any failure while reading ``path``."""
    import pandas as pd

    if isinstance(exc, DataError):
        return exc
    if isinstance(exc, UnicodeDecodeError):
        return DataError(_not_utf8(path))
    if isinstance(exc, pd.errors.EmptyDataError):
        return DataError(f"data file {path} holds no header and no rows (only blank lines)")
    hint = (" (is it really Parquet? data.source.format: csv reads a file as CSV whatever its name)"
            if kind == "parquet" else "")
    return DataError(f"cannot read {path} as {kind}: {type(exc).__name__}: {exc}{hint}")


def iter_table(path: Path, fmt: str = "auto", *, columns: Sequence[str] | None = None,
               chunk_rows: int = CHUNK_ROWS) -> Iterator[Any]:
    """Read a table a part at a time: DataFrames of at most ``chunk_rows`` rows, so memory does not grow with the
    file (CSV/TSV through pandas' chunked reader, Parquet a record batch at a time through pyarrow), the index
    counting rows across chunks. ``columns`` reads only those (the rest are never parsed).

    Raises:
        DataError: as :func:`read_table`; a problem further into the file is raised when its chunk is reached.
    """
    import pandas as pd

    _check_file(path)
    kind = table_kind(path, fmt)
    chunk_rows = max(1, int(chunk_rows))
    rows, names = 0, None
    try:
        if kind == "parquet":
            parquet = _parquet(path).ParquetFile(path)
            _check_names(path, [str(c) for c in parquet.schema_arrow.names])
            chunks = (batch.to_pandas() for batch in parquet.iter_batches(
                batch_size=chunk_rows, columns=list(columns) if columns is not None else None))
        else:
            sep = "\t" if kind == "tsv" else ","
            _check_header(path, sep)
            chunks = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, na_values=[""],
                                 usecols=list(columns) if columns is not None else None, chunksize=chunk_rows)
        for chunk in chunks:
            names = chunk.columns
            if len(chunk) == 0:
                continue
            chunk.index = pd.RangeIndex(rows, rows + len(chunk))
            rows += len(chunk)
            yield chunk
    except Exception as exc:
        raise _read_error(path, kind, exc) from None
    if rows == 0:
        columns = names if names is not None else table_columns(path, kind)
        raise DataError(f"data file {path} has a header ({', '.join(str(c) for c in columns)}) but no rows")


def _parquet(path: Path) -> Any:
    """``pyarrow.parquet``, or the error that says how to install it."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError(f"reading {path} needs a Parquet engine: pip install 'mmfusion[parquet]' (pyarrow)") from None
    return pq


def table_columns(path: Path, fmt: str = "auto") -> list[str]:
    """A table file's column names, from its header (CSV/TSV) or schema (Parquet), without reading its rows.

    Raises:
        DataError: the file is missing, a folder or empty.
    """
    import pandas as pd

    _check_file(path)
    kind = table_kind(path, fmt)
    try:
        if kind == "parquet":
            return [n for n in _parquet(path).read_schema(path).names if not n.startswith("__index_level_")]
        return [str(c) for c in pd.read_csv(path, sep="\t" if kind == "tsv" else ",", nrows=0).columns]
    except Exception as exc:
        raise _read_error(path, kind, exc) from None


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
    """Where the first byte that is not UTF-8 is, as a line number (pandas reports a position in a buffer).

    The file is decoded a line at a time (no UTF-8 character holds a newline byte), never held in memory whole.
    """
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, 1):
            if number == 1 and line.startswith((b"\xff\xfe", b"\xfe\xff")):
                return (f"data file {path} is UTF-16 text; save it as UTF-8 (e.g. Excel's 'CSV UTF-8', or "
                        f"`iconv -f UTF-16 -t UTF-8`)")
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as exc:
                return (f"data file {path} is not UTF-8 text: line {number} has the byte "
                        f"0x{line[exc.start:exc.start + 1].hex()} (byte {exc.start + 1} of the line). "
                        "Save the file as UTF-8 (e.g. Excel's 'CSV UTF-8', or `iconv -f latin1 -t UTF-8`)")
    return f"data file {path} is not UTF-8 text; save it as UTF-8"
