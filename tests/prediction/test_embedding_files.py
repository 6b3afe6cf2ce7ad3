"""Embedding files written a chunk at a time read back as one table would, and appear only once complete."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from mmfusion.errors import DataError
from mmfusion.prediction.embedding_files import NpyStream, embedding_format, write_embeddings
from mmfusion.prediction.embeddings import Embeddings, wanted

INPUTS = ["image", "text"]
RNG = np.random.default_rng(0)
FUSED = RNG.normal(size=(11, 6)).astype(np.float32)
TEXT_PRESENT = np.arange(11) % 3 != 0
TEXT = np.where(TEXT_PRESENT[:, None], RNG.normal(size=(11, 4)), np.nan).astype(np.float32)
IMAGE = RNG.normal(size=(11, 5)).astype(np.float32)


def chunks(size: int, fail_after: int | None = None, what: str = "fused,pooled") -> Iterator[Embeddings]:
    """The test's rows a chunk at a time, with the vectors ``what`` names."""
    want = wanted(what, INPUTS)
    for number, start in enumerate(range(0, 11, size)):
        if fail_after is not None and number == fail_after:
            raise DataError("rows.csv line 9 (column 'image'): image file 7.png does not exist")
        part = slice(start, start + size)
        vectors = {"image": IMAGE[part], "text": TEXT[part]}
        yield Embeddings(np.arange(11)[part], {"image": np.ones(11, bool)[part], "text": TEXT_PRESENT[part]},
                         FUSED[part] if want.fused else None, {m: vectors[m] for m in want.pooled})


@pytest.mark.parametrize("size", [3, 11])
def test_parquet_has_a_row_column_a_list_column_per_vector_and_presence_flags(tmp_path: Path, size: int) -> None:
    out = tmp_path / "emb.parquet"
    assert write_embeddings(chunks(size), out, wanted("fused,pooled", INPUTS)) == 11
    table = pq.read_table(out)
    assert table.column_names == ["row", "fused", "image", "text", "image.present", "text.present"]
    assert table.schema.field("fused").type.list_size == 6  # fixed-size lists: one reshape gives the matrix
    fused = table.column("fused").combine_chunks().flatten().to_numpy().reshape(-1, 6)
    assert np.array_equal(fused, FUSED)
    frame = pd.read_parquet(out)
    assert frame["row"].tolist() == list(range(11)) and frame["text.present"].tolist() == TEXT_PRESENT.tolist()
    text = np.stack(frame["text"].to_numpy())
    assert np.isnan(text[~TEXT_PRESENT]).all() and np.array_equal(text[TEXT_PRESENT], TEXT[TEXT_PRESENT])


def test_npz_holds_the_same_arrays_by_the_same_names(tmp_path: Path) -> None:
    out = tmp_path / "emb.npz"
    write_embeddings(chunks(4, what="fused,text"), out, wanted("fused,text", INPUTS))
    with np.load(out) as arrays:
        assert sorted(arrays.files) == ["fused", "image.present", "row", "text", "text.present"]
        assert np.array_equal(arrays["fused"], FUSED) and arrays["row"].dtype == np.int64
        assert np.array_equal(arrays["text.present"], TEXT_PRESENT)
        assert np.array_equal(np.isnan(arrays["text"]).all(1), ~TEXT_PRESENT)
    assert [p.name for p in tmp_path.iterdir()] == ["emb.npz"]  # its members' temporary files are gone


def test_npy_holds_one_vector_and_memory_maps(tmp_path: Path) -> None:
    out = tmp_path / "image.npy"
    write_embeddings(chunks(5, what="image"), out, wanted("image", INPUTS))
    assert np.array_equal(np.load(out, mmap_mode="r"), IMAGE)
    with pytest.raises(DataError, match=r"an .npy file holds one array, but 3 vectors .*fused, image, text"):
        embedding_format(out, wanted("fused,pooled", INPUTS))


def test_unknown_suffixes_and_vectors_are_clear_errors() -> None:
    with pytest.raises(DataError, match=r"give a file ending in .parquet, .npz or .npy"):
        embedding_format(Path("emb.csv"))
    with pytest.raises(DataError, match=r"unknown embedding 'fusd' — did you mean 'fused'\?"):
        wanted("fusd,pooled", INPUTS)
    with pytest.raises(DataError, match="no embedding asked for"):
        wanted(" , ", INPUTS)
    assert wanted("pooled", INPUTS).names == ["image", "text"] and wanted(["text", "fused"], INPUTS).pooled == ("text",)


def test_an_error_half_way_leaves_no_file(tmp_path: Path) -> None:
    for name in ("emb.parquet", "emb.npz", "emb.npy"):
        with pytest.raises(DataError, match="line 9"):
            write_embeddings(chunks(3, 2, "fused"), tmp_path / name, wanted("fused", INPUTS))
    assert list(tmp_path.iterdir()) == []


def test_an_npy_stream_rewrites_its_header_with_the_row_count(tmp_path: Path) -> None:
    path = tmp_path / "a.npy"
    stream = NpyStream(open(path, "w+b"), np.zeros((0, 3), np.float16))
    stream.write(np.ones((2, 3)))
    stream.write(np.zeros((1, 3)))
    stream.close()
    assert np.load(path).tolist() == [[1, 1, 1], [1, 1, 1], [0, 0, 0]] and np.load(path).dtype == np.float16
    with pytest.raises(ValueError, match="rows of shape"):
        NpyStream(open(tmp_path / "b.npy", "w+b"), np.zeros((0, 3))).write(np.zeros((1, 4)))


@pytest.mark.parametrize("name", ["emb.parquet", "emb.npz", "emb.npy"])
def test_chunks_reach_the_disk_as_they_come(tmp_path: Path, name: str) -> None:
    sizes = []

    def watched() -> Iterator[Embeddings]:
        for start in range(0, 4000, 1000):  # chunks larger than a file buffer
            # what is on disk (the temporary file, and .npz's member files) before this chunk is handed over
            sizes.append(sum(p.stat().st_size for p in tmp_path.rglob("*") if p.is_file()))
            rows = np.arange(start, start + 1000)
            yield Embeddings(rows, {"image": rows % 2 == 0, "text": rows % 3 == 0},
                             RNG.normal(size=(1000, 16)).astype(np.float32))

    write_embeddings(watched(), tmp_path / name, wanted("fused", INPUTS))
    assert sizes[1] < sizes[2] < sizes[3]  # every chunk written before the next is asked for
