"""One row-numbering rule for messages, whoever reads the table: CSV/TSV by line (header = line 1), Parquet and
DataFrames by row from 0, whatever the case of the file's suffix."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mmfusion.data.files import read_table, row_numbering
from mmfusion.errors import DataError
from mmfusion.evaluation.evaluate import evaluate_run
from mmfusion.prediction.predictor import Predictor
from mmfusion.run.load import load_run

SUFFIXES = [".csv", ".CSV", ".tsv", ".TSV", ".parquet", ".PARQUET"]


def test_the_rule() -> None:
    for name in ("a.csv", "a.CSV", "a.tsv", "a.Tsv", "a.txt"):
        assert row_numbering(Path(name)) == (2, "line")
    for name in ("a.parquet", "a.PARQUET", "a.pq"):
        assert row_numbering(name) == (0, "row")
    assert row_numbering(Path("a.csv"), "parquet") == (0, "row")  # data.source.format overrides the suffix
    assert row_numbering(pd.DataFrame({"x": [1]})) == (0, "row")


def _holes(xor_data: Path, folder: Path, suffix: str) -> Path:
    """The xor table with a missing image at position 3 (line 5 of a text file), written as ``suffix`` says."""
    table = read_table(xor_data).head(12)
    table["image"] = [str(xor_data.parent / p) for p in table["image"]]
    table.loc[3, "image"] = str(folder / "gone.png")
    path = folder / f"holes{suffix}"
    if suffix.lower() == ".parquet":
        table.to_parquet(path)
    else:
        table.to_csv(path, index=False, sep="\t" if suffix.lower() == ".tsv" else ",")
    return path


def _where(path: Path) -> str:
    return rf"{path.name} {'row 3' if path.suffix.lower() == '.parquet' else 'line 5'} \(column 'image'\)"


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_evaluate_and_predict_name_the_same_row_whatever_the_suffix_case(xor_run, xor_data: Path,  # type: ignore
                                                                         tmp_path: Path, suffix: str) -> None:
    path = _holes(xor_data, tmp_path, suffix)
    with pytest.raises(DataError, match=_where(path) + r": image file \S*gone\.png does not exist"):
        evaluate_run(xor_run.run_dir, path, out=tmp_path / "eval")
    predictor = Predictor(load_run(xor_run.run_dir))
    with pytest.raises(DataError, match=_where(path) + r": image file \S*gone\.png"):
        list(predictor.iter_predict_table(path, chunk_rows=4))
