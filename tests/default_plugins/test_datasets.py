"""Dataset sources: csv files (and their errors) and the easy-VQA package."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from mmfusion.cli import cli
from mmfusion.default_plugins.csv_dataset import CsvConfig, CsvDataset
from mmfusion.default_plugins.easy_vqa_dataset import EasyVQAConfig, EasyVQADataset
from mmfusion.errors import DataError

from ..conftest import xor_spec


def test_csv_reads_text_cells_as_text_and_numbers_lines(tmp_path: Path) -> None:
    (tmp_path / "train.csv").write_text('text,label\n"007, the ""agent""",a\nNA,b\n,a\n', encoding="utf-8")
    (tmp_path / "test.tsv").write_text("text\tlabel\nx\ta\n", encoding="utf-8")
    tables = CsvDataset(CsvConfig(train=str(tmp_path / "train.csv"), test=str(tmp_path / "test.tsv"))).load()
    assert tables.train["text"].tolist()[:2] == ['007, the "agent"', "NA"]  # kept as text, "NA" is not missing
    assert pd.isna(tables.train["text"][2])  # only empty cells are missing
    assert tables.test["label"].tolist() == ["a"]
    assert tables.first_row == 2 and tables.row_kind == "line" and tables.root == tmp_path


def test_csv_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="nope.csv does not exist"):
        CsvDataset(CsvConfig(train=str(tmp_path / "nope.csv"))).load()
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataError, match="cannot read .*bad.parquet as parquet"):
        CsvDataset(CsvConfig(train=str(tmp_path / "bad.parquet"))).load()


def test_easy_vqa_source() -> None:
    pytest.importorskip("easy_vqa")
    tables = EasyVQADataset(EasyVQAConfig()).load()
    assert len(tables.train) > 30_000 and len(tables.test) > 9_000
    assert tables.columns == {"image": "image", "text": "question"} and tables.label_column == "answer"
    assert len(tables.labels) == 13 and set(tables.train["answer"]) <= set(tables.labels)
    assert Path(tables.train["image"][0]).is_file()


@pytest.mark.slow
def test_training_on_a_csv_with_a_missing_image_names_file_and_line(xor_data: Path, tiny_bert: Path,
                                                                     tmp_path: Path) -> None:
    table = pd.read_csv(xor_data).head(30)
    table["image"] = [str(xor_data.parent / p) for p in table["image"]]
    table.loc[4, "image"] = str(tmp_path / "gone.png")
    csv = tmp_path / "train.csv"
    table.to_csv(csv, index=False)
    spec = xor_spec(tmp_path, csv, tiny_bert, tmp_path / "cache", epochs=1)
    result = CliRunner().invoke(cli, ["train", str(spec), "--out", str(tmp_path / "run"), "--quiet"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "train.csv line 6 (column 'image'): image file" in result.output and "gone.png does not exist" in \
        result.output
    absent = xor_spec(tmp_path, csv, tiny_bert, tmp_path / "cache", epochs=1, name="absent.yaml")
    absent.write_text(absent.read_text().replace("  split:", "  on_bad_value: {image: absent}\n  split:"))
    result = CliRunner().invoke(cli, ["train", str(absent), "--out", str(tmp_path / "run2"), "--quiet"])
    assert result.exit_code == 0, result.output
