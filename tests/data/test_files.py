"""Reading data files: every unusable file is a DataError naming the file and what is wrong with it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mmfusion.data.files import read_table
from mmfusion.errors import DataError

GOOD = "image,text,label\na.png,hello,x\nb.png,world,y\n"


def test_a_good_csv_keeps_cells_as_text(tmp_path: Path) -> None:
    path = tmp_path / "ok.csv"
    path.write_text("id,label\n007,1\n,2\n", encoding="utf-8")
    table = read_table(path)
    assert table["id"].tolist()[0] == "007" and pd.isna(table["id"].tolist()[1])


def test_non_utf8_bytes_name_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    lines = ["image,text,label"] + [f"{i}.png,plain text,x" for i in range(3000)]
    lines[2500] = "2499.png,caf\xe9 au lait,x"  # line 2501 of the file: far past pandas' first buffer
    path.write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    with pytest.raises(DataError, match=r"latin\.csv is not UTF-8 text: line 2501 has the byte 0xe9 "
                                        r"\(byte 13 of the line\)\. Save the file as UTF-8"):
        read_table(path)


def test_utf16_is_named_as_such(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes(GOOD.encode("utf-16"))
    with pytest.raises(DataError, match=r"excel\.csv is UTF-16 text; save it as UTF-8"):
        read_table(path)


def test_a_utf8_byte_order_mark_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(GOOD.encode("utf-8-sig"))
    assert list(read_table(path).columns) == ["image", "text", "label"]


def test_a_header_without_rows_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "header.csv"
    path.write_text("image,text,label\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"header\.csv has a header \(image, text, label\) but no rows"):
        read_table(path)


@pytest.mark.parametrize("content", ["", "\n\n  \n"])
def test_an_empty_file_names_the_file(tmp_path: Path, content: str) -> None:
    path = tmp_path / "empty.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=r"empty\.csv (is empty \(0 bytes\)|holds no header and no rows)"):
        read_table(path)


def test_repeated_column_names_are_refused_not_renamed(tmp_path: Path) -> None:
    """pandas would silently read the second 'text' column as 'text.1' and the model would never see it."""
    path = tmp_path / "dup.csv"
    path.write_text("image,text,text,label\na.png,title,body,x\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"dup\.csv: repeated column name\(s\) in the header: 'text' "
                                        r"\(columns 2, 3\)"):
        read_table(path)


def test_repeated_column_names_in_a_tsv(tmp_path: Path) -> None:
    path = tmp_path / "dup.tsv"
    path.write_text("label\ttext\tlabel\nx\thi\ty\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"dup\.tsv: .*'label' \(columns 1, 3\)"):
        read_table(path)


def test_repeated_column_names_in_parquet(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "dup.parquet"
    pq.write_table(pa.Table.from_arrays([pa.array(["a"]), pa.array(["b"])], names=["text", "text"]), path)
    with pytest.raises(DataError, match=r"dup\.parquet: .*'text' \(columns 1, 2\)"):
        read_table(path)


def test_a_garbage_parquet_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "garbage.parquet"
    path.write_text(GOOD, encoding="utf-8")
    with pytest.raises(DataError, match=r"cannot read \S*garbage\.parquet as parquet: .*is it really Parquet\?"):
        read_table(path)


def test_an_empty_parquet_table_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "none.parquet"
    pd.DataFrame({"text": pd.Series([], dtype=str), "label": pd.Series([], dtype=str)}).to_parquet(path)
    with pytest.raises(DataError, match=r"none\.parquet has a header \(text, label\) but no rows"):
        read_table(path)


def test_a_folder_is_not_a_table(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"is a folder, not a table file"):
        read_table(tmp_path)
