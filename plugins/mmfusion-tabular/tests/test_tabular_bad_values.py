"""A numeric cell that is not a number is an unusable value: data.on_bad_value makes the row's table absent
(counted) or stops with an error naming file, line and column."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from mmfusion_tabular import TabularConfig, TabularEncoder, TabularModality

from mmfusion import BadValueError, CellContext, DataError
from mmfusion.api import fit


def test_numeric_columns_of_the_encoder_must_hold_numbers() -> None:
    modality = TabularModality().for_encoder(TabularEncoder(TabularConfig(numeric=["size"], categorical=["shop"])))
    context = CellContext("t.csv", 4, ("size", "shop"), row_kind="line")
    assert modality.parse([" 3.5", "big"], context) == {"size": 3.5, "shop": "big"}  # categories stay as they are
    assert modality.parse(["nan", ""], context) is None  # NaN spelt out is a missing number
    with pytest.raises(BadValueError, match=r"t\.csv line 4 \(column 'size', 'shop'\): numeric column 'size' "
                                            r"holds '12 kg', not a number") as info:
        modality.parse(["12 kg", "north"], context)
    assert info.value.context == context and info.value.problem.startswith("numeric column 'size'")
    with pytest.raises(BadValueError, match="not a finite number"):
        modality.parse(["inf", "north"], context)
    assert TabularModality().parse(["12 kg", "north"], context) == {"size": "12 kg", "shop": "north"}  # unbound


def _data(folder: Path, bad: str) -> Path:
    from mmfusion_tabular.data import make_tabular_dataset

    path = make_tabular_dataset(folder, n=40, image_size=8)
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    rows[2]["size"] = bad  # line 4
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _spec(data: Path, folder: Path, **extra: Any) -> dict[str, Any]:
    return {
        "model": {"encoders": {"table": {"type": "tabular", "numeric": ["size", "weight"], "categorical": ["shop"],
                                         "dim": 8}},
                  "fusion": {"type": "concat"}, "head": {"type": "linear"}},
        "data": {"source": {"type": "csv", "train": str(data)}, "columns": {"table": ["size", "weight", "shop"]},
                 "split": {"validation": 0.0}, **extra},
        "train": {"epochs": 1, "batch_size": 16, "cache_dir": str(folder / "cache"), "num_workers": 0},
    }


@pytest.mark.slow
def test_an_unparsable_number_is_absent_and_counted_or_an_error(tmp_path: Path) -> None:
    data = _data(tmp_path, "12 kg")
    with pytest.raises(DataError) as info:
        fit(_spec(data, tmp_path), out=tmp_path / "run")
    message = str(info.value)
    assert "data.csv line 4 (column 'size', 'weight', 'shop'): numeric column 'size' holds '12 kg'" in message
    assert "data.on_bad_value: {table: absent}" in message

    result = fit(_spec(data, tmp_path, on_bad_value={"table": "absent"}), out=tmp_path / "run")
    assert result.summary["data"]["train"]["bad_values_as_absent"] == {"table": 1}
    assert result.summary["data"]["train"]["present"]["table"] == 39
