"""Embedding files written a chunk of rows at a time, so memory holds one chunk whatever the table's size.

The suffix chooses the format: Parquet (``.parquet``/``.pq``: a ``row`` column, each vector a fixed-size list
column, the ``<input>.present`` flags), NumPy ``.npz`` (the same arrays by the same names) or ``.npy`` (one
array). NumPy needs an array's shape in its header before the data, and a CSV's row count is known only at its
end: each array is streamed into an ``.npy`` file whose header leaves room for any row count and is rewritten
with the real one at the end (the format allows a header padded with spaces), and ``.npz`` stores those files.
Every file appears only once complete (:func:`mmfusion.io.write_atomic`).
"""

from __future__ import annotations

import struct
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

from ..errors import DataError
from ..io import write_atomic
from .embeddings import Embeddings, Wanted

#: file suffix → format
FORMATS = {".parquet": "parquet", ".pq": "parquet", ".npz": "npz", ".npy": "npy"}


def embedding_format(path: Path, want: Wanted | None = None) -> str:
    """The format ``path``'s suffix names, checked against what is wanted (when given) before any row is embedded.

    Raises:
        DataError: an unknown suffix, or ``.npy`` for more than one vector (an ``.npy`` file holds one array).
    """
    fmt = FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise DataError(f"cannot write embeddings to {path}: give a file ending in .parquet, .npz or .npy "
                        "(Parquet and .npz hold every vector with the row ids and presence flags; .npy one vector)")
    if fmt == "npy" and want is not None and len(want.names) != 1:
        raise DataError(f"{path}: an .npy file holds one array, but {len(want.names)} vectors are asked for "
                        f"({', '.join(want.names)}); write .npz or .parquet, or ask for one with --what")
    return fmt


def write_embeddings(chunks: Iterable[Embeddings], path: Path, want: Wanted) -> int:
    """Write the chunks' embeddings to ``path`` (format by suffix) as they come; returns the rows written.

    Raises:
        DataError: as :func:`embedding_format`.
        OutputError: the file cannot be written; nothing is left behind.
    """
    fmt = embedding_format(path, want)
    rows = 0

    def counted() -> Iterator[Embeddings]:
        nonlocal rows
        for chunk in chunks:
            rows += len(chunk)
            yield chunk

    writer: Callable[[Iterable[Embeddings], str], None] = {"parquet": _parquet, "npz": _npz,
                                                            "npy": lambda c, tmp: _npy(c, tmp, want.names[0])}[fmt]
    write_atomic(Path(path), lambda tmp: writer(counted(), tmp))
    return rows


def _parquet(chunks: Iterable[Embeddings], tmp: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer = None
    try:
        for chunk in chunks:
            columns = {name: _arrow(array) for name, array in chunk.arrays().items()}
            table = pa.table(columns)
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()


def _arrow(array: np.ndarray) -> Any:
    """A column: 1-D arrays as they are, a matrix as a fixed-size list per row (pandas reads each as an array)."""
    import pyarrow as pa

    if array.ndim == 1:
        return pa.array(array)
    return pa.FixedSizeListArray.from_arrays(pa.array(np.ascontiguousarray(array).reshape(-1)), array.shape[1])


def _npz(chunks: Iterable[Embeddings], tmp: str) -> None:
    with tempfile.TemporaryDirectory(dir=Path(tmp).parent, prefix=".embed-") as folder:
        streams: dict[str, NpyStream] = {}
        try:
            for chunk in chunks:
                for name, array in chunk.arrays().items():
                    if name not in streams:
                        streams[name] = NpyStream(open(Path(folder) / f"{len(streams)}.npy", "w+b"), array)
                    streams[name].write(array)
        finally:
            for stream in streams.values():
                stream.close()
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:  # as numpy.savez
            for i, name in enumerate(streams):
                archive.write(Path(folder) / f"{i}.npy", f"{name}.npy")


def _npy(chunks: Iterable[Embeddings], tmp: str, name: str) -> None:
    stream = None
    with open(tmp, "w+b") as handle:
        for chunk in chunks:
            array = chunk.arrays()[name]
            stream = stream or NpyStream(handle, array)
            stream.write(array)
        if stream is not None:
            stream.close()


class NpyStream:
    """An ``.npy`` file written a block of rows at a time: the header, first written with room for any row count,
    is rewritten with the count at :meth:`close`. Every block has the first one's dtype and trailing shape."""

    #: bytes of the header with its padding: a multiple of 64 (the format's alignment) with room for the shape
    HEADER = 128

    def __init__(self, handle: IO[bytes], like: np.ndarray) -> None:
        self.handle, self.dtype, self.trailing, self.rows = handle, like.dtype, like.shape[1:], 0
        self._header()

    def write(self, block: np.ndarray) -> None:
        block = np.ascontiguousarray(block, dtype=self.dtype)
        if block.shape[1:] != self.trailing:  # an internal promise: every chunk comes from the same model
            raise ValueError(f"rows of shape {block.shape[1:]} after rows of shape {self.trailing}")
        self.handle.write(block.tobytes())
        self.rows += len(block)

    def close(self) -> None:
        self._header()
        self.handle.close()

    def _header(self) -> None:
        """The header (NEP 1, version 1.0) for the rows so far, padded with spaces to :attr:`HEADER` bytes."""
        shape = (self.rows, *self.trailing)
        text = (f"{{'descr': {np.lib.format.dtype_to_descr(self.dtype)!r}, 'fortran_order': False, "
                f"'shape': {shape!r}, }}")
        length = self.HEADER - 10  # magic (6), version (2), header length (2)
        position = self.handle.tell()
        self.handle.seek(0)
        self.handle.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", length) + text.ljust(length - 1).encode() + b"\n")
        self.handle.seek(max(position, self.HEADER))
