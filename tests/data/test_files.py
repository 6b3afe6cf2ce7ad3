"""Reading data files: every unusable file is a DataError naming the file and what is wrong with it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from mmfusion.data.files import iter_table, read_table, table_columns
from mmfusion.errors import DataError

GOOD = "image,text,label\na.png,hello,x\nb.png,world,y\n"


def read_in_chunks(path: Path) -> pd.DataFrame:
    """What :func:`iter_table` reads, a few rows at a time, joined."""
    return pd.concat(iter_table(path, chunk_rows=7))


#: every check of a file holds for the whole read and for the chunked one alike
READERS = pytest.mark.parametrize("read", [read_table, read_in_chunks], ids=["whole", "chunks"])


@READERS
def test_a_good_csv_keeps_cells_as_text(tmp_path: Path, read: Callable[[Path], pd.DataFrame]) -> None:
    path = tmp_path / "ok.csv"
    path.write_text("id,label\n007,1\n,2\n", encoding="utf-8")
    table = read(path)
    assert table["id"].tolist()[0] == "007" and pd.isna(table["id"].tolist()[1])


@READERS
def test_non_utf8_bytes_name_the_file_and_line(tmp_path: Path, read: Callable[[Path], pd.DataFrame]) -> None:
    path = tmp_path / "latin.csv"
    lines = ["image,text,label"] + [f"{i}.png,plain text,x" for i in range(3000)]
    lines[2500] = "2499.png,caf\xe9 au lait,x"  # line 2501 of the file: far past pandas' first buffer
    path.write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    with pytest.raises(DataError, match=r"latin\.csv is not UTF-8 text: line 2501 has the byte 0xe9 "
                                        r"\(byte 13 of the line\)\. Save the file as UTF-8"):
        read(path)


@READERS
def test_utf16_is_named_as_such(tmp_path: Path, read: Callable[[Path], pd.DataFrame]) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes(GOOD.encode("utf-16"))
    with pytest.raises(DataError, match=r"excel\.csv is UTF-16 text; save it as UTF-8"):
        read(path)


@READERS
def test_a_utf8_byte_order_mark_is_fine(tmp_path: Path, read: Callable[[Path], pd.DataFrame]) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(GOOD.encode("utf-8-sig"))
    assert list(read(path).columns) == ["image", "text", "label"]


@READERS
def test_a_header_without_rows_names_the_file(tmp_path: Path, read: Callable[[Path], pd.DataFrame]) -> None:
    path = tmp_path / "header.csv"
    path.write_text("image,text,label\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"header\.csv has a header \(image, text, label\) but no rows"):
        read(path)


@READERS
@pytest.mark.parametrize("content", ["", "\n\n  \n"])
def test_an_empty_file_names_the_file(tmp_path: Path, content: str, read: Callable[[Path], pd.DataFrame]) -> None:
    path = tmp_path / "empty.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=r"empty\.csv (is empty \(0 bytes\)|holds no header and no rows)"):
        read(path)


@READERS
def test_repeated_column_names_are_refused_not_renamed(tmp_path: Path, read: Callable[[Path], pd.DataFrame]) -> None:
    """pandas would silently read the second 'text' column as 'text.1' and the model would never see it."""
    path = tmp_path / "dup.csv"
    path.write_text("image,text,text,label\na.png,title,body,x\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"dup\.csv: repeated column name\(s\) in the header: 'text' "
                                        r"\(columns 2, 3\)"):
        read(path)


@READERS
def test_repeated_column_names_in_a_tsv(tmp_path: Path, read: Callable[[Path], pd.DataFrame]) -> None:
    path = tmp_path / "dup.tsv"
    path.write_text("label\ttext\tlabel\nx\thi\ty\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"dup\.tsv: .*'label' \(columns 1, 3\)"):
        read(path)


@READERS
def test_repeated_column_names_in_parquet(tmp_path: Path, read: Callable[[Path], pd.DataFrame]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "dup.parquet"
    pq.write_table(pa.Table.from_arrays([pa.array(["a"]), pa.array(["b"])], names=["text", "text"]), path)
    with pytest.raises(DataError, match=r"dup\.parquet: .*'text' \(columns 1, 2\)"):
        read(path)


@READERS
def test_a_garbage_parquet_file_names_the_file(tmp_path: Path, read: Callable[[Path], pd.DataFrame]) -> None:
    path = tmp_path / "garbage.parquet"
    path.write_text(GOOD, encoding="utf-8")
    with pytest.raises(DataError, match=r"cannot read \S*garbage\.parquet as parquet: .*is it really Parquet\?"):
        read(path)


@READERS
def test_an_empty_parquet_table_names_the_file(tmp_path: Path, read: Callable[[Path], pd.DataFrame]) -> None:
    path = tmp_path / "none.parquet"
    pd.DataFrame({"text": pd.Series([], dtype=str), "label": pd.Series([], dtype=str)}).to_parquet(path)
    with pytest.raises(DataError, match=r"none\.parquet has a header \(text, label\) but no rows"):
        read(path)


@READERS
def test_a_folder_is_not_a_table(tmp_path: Path, read: Callable[[Path], pd.DataFrame]) -> None:
    with pytest.raises(DataError, match=r"is a folder, not a table file"):
        read(tmp_path)


def test_chunks_hold_the_whole_table(tmp_path: Path) -> None:
    """Chunks are the whole read cut into pieces: the same cells and dtypes, the index counting on."""
    path = tmp_path / "rows.csv"
    pd.DataFrame({"image": [f"{i}.png" if i % 5 else "" for i in range(23)], "text": [f"t {i}" for i in range(23)],
                  "label": [str(i % 3) for i in range(23)]}).to_csv(path, index=False)
    chunks = list(iter_table(path, chunk_rows=10))
    assert [len(c) for c in chunks] == [10, 10, 3] and [c.index[0] for c in chunks] == [0, 10, 20]
    pd.testing.assert_frame_equal(pd.concat(chunks), read_table(path))
    only = pd.concat(iter_table(path, columns=["text", "label"], chunk_rows=10))
    assert list(only.columns) == ["text", "label"] and only["text"].tolist() == read_table(path)["text"].tolist()
    assert table_columns(path) == ["image", "text", "label"]


def test_parquet_is_read_a_record_batch_at_a_time(tmp_path: Path) -> None:
    path = tmp_path / "rows.parquet"
    frame = pd.DataFrame({"text": [f"t {i}" for i in range(25)], "score": [i / 4 for i in range(25)],
                          "label": [i % 2 for i in range(25)], "image": [None if i % 4 else b"png" for i in range(25)]})
    frame.to_parquet(path, row_group_size=8)
    chunks = list(iter_table(path, chunk_rows=6))
    assert max(len(c) for c in chunks) <= 6 and sum(len(c) for c in chunks) == 25
    pd.testing.assert_frame_equal(pd.concat(chunks), read_table(path))
    assert list(pd.concat(iter_table(path, columns=["label"])).columns) == ["label"]
    assert table_columns(path) == ["text", "score", "label", "image"]
