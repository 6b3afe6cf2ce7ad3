"""`predict --csv` writes each predicted chunk as it comes, into a file that appears only once it is complete."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from mmfusion.cli.predict import _stream_table
from mmfusion.errors import DataError

FRAME = pd.DataFrame({"image": [f"{i}.png" for i in range(7)], "predicted": ["a", "b"] * 3 + ["a"],
                      "p_a": [i / 7 for i in range(7)]})


def chunks(size: int, fail_after: int | None = None) -> Iterator[pd.DataFrame]:
    for number, start in enumerate(range(0, len(FRAME), size)):
        if fail_after is not None and number == fail_after:
            raise DataError("rows.csv line 9 (column 'image'): image file 7.png does not exist")
        yield FRAME.iloc[start:start + size]


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_the_chunks_make_the_whole_file(tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"preds.{fmt}"
    assert _stream_table(chunks(3), fmt, out) == 7
    whole = FRAME.to_csv(index=False) if fmt == "csv" else FRAME.to_json(orient="records", indent=2)
    assert out.read_text(encoding="utf-8") == whole


def test_an_error_half_way_leaves_no_file(tmp_path: Path) -> None:
    out = tmp_path / "preds.csv"
    with pytest.raises(DataError, match="line 9"):
        _stream_table(chunks(3, fail_after=2), "csv", out)
    assert list(tmp_path.iterdir()) == []  # neither the output nor its temporary file


def test_to_stdout_rows_are_written_as_they_come(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(DataError):
        _stream_table(chunks(3, fail_after=2), "csv", None)
    assert capsys.readouterr().out == FRAME.iloc[:6].to_csv(index=False)  # the two chunks predicted before it
