"""Labels: empty or NaN label cells are named (or left out with data.unlabelled: drop); 1 and 1.0 are one class."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mmfusion.data.cells import ROW_COLUMN, label_text
from mmfusion.data.labels import LabelSet
from mmfusion.data.tables import prepare_tables
from mmfusion.default_plugins.csv_dataset import CsvConfig, CsvDataset
from mmfusion.errors import DataError
from mmfusion.interfaces.dataset import DatasetTables
from mmfusion.spec.data_spec import DataSpec


def _spec(**kwargs) -> DataSpec:  # type: ignore[no-untyped-def]
    return DataSpec.model_validate({"source": {"type": "csv", "train": "unused.csv"}, **kwargs})


def _table(n: int = 40, labels: list | None = None) -> pd.DataFrame:
    return pd.DataFrame({"text": [f"t{i}" for i in range(n)],
                         "label": labels if labels is not None else ["a" if i % 2 else "b" for i in range(n)]})


def _from_file(path: Path, **kwargs) -> DatasetTables:  # type: ignore[no-untyped-def]
    return CsvDataset(CsvConfig(train=str(path), **kwargs)).load()


def test_empty_csv_labels_name_the_file_and_lines(tmp_path: Path) -> None:
    """Used to be an internal error (NaN in the stratified split) instead of naming the lines."""
    table = _table()
    table.loc[[3, 7], "label"] = ""
    table.to_csv(tmp_path / "train.csv", index=False)
    with pytest.raises(DataError, match=r"train\.csv: 2 line\(s\) have an empty label \(column 'label', lines 5, 9\)"
                                        r"\. Fill them in, or set data\.unlabelled: drop"):
        prepare_tables(_spec(split={"validation": 0.2}), _from_file(tmp_path / "train.csv"))


def test_nan_labels_in_a_parquet_float_column_name_the_rows(tmp_path: Path) -> None:
    table = _table(labels=[float(i % 2) for i in range(40)])
    table.loc[[0, 11], "label"] = np.nan
    table.to_parquet(tmp_path / "train.parquet")
    with pytest.raises(DataError, match=r"train\.parquet: 2 row\(s\) have an empty label \(column 'label', rows 0, "
                                        r"11\)"):
        prepare_tables(_spec(split={"validation": 0.2, "test": 0.1}), _from_file(tmp_path / "train.parquet"))


def test_a_label_column_with_no_labels_at_all_asks_whether_it_is_the_right_one(tmp_path: Path) -> None:
    _table(labels=[""] * 40).to_csv(tmp_path / "train.csv", index=False)
    for mode in ("error", "drop"):
        with pytest.raises(DataError, match=r"train\.csv: column 'label' holds no labels: all 40 lines are empty\. Is "
                                            r"data\.label the right column\? Columns: text, label"):
            prepare_tables(_spec(unlabelled=mode), _from_file(tmp_path / "train.csv"))


def test_empty_labels_in_a_given_test_table_are_named_too() -> None:
    test = _table(10)
    test.loc[4, "label"] = None
    with pytest.raises(DataError, match=r"test\.csv: 1 line\(s\) have an empty label .*lines 6\)"):
        prepare_tables(_spec(), DatasetTables(train=_table(), test=test, names={"test": "test.csv"}, first_row=2,
                                              row_kind="line"))


def test_drop_leaves_unlabelled_rows_out_before_splitting_and_counts_them() -> None:
    table = _table(60)
    table.loc[[5, 6, 50], "label"] = [np.nan, "  ", None]
    test = _table(10)
    test.loc[0, "label"] = ""
    prepared = prepare_tables(_spec(unlabelled="drop", split={"validation": 0.2, "seed": 1}),
                              DatasetTables(train=table, test=test, names={"train": "train.csv", "test": "test.csv"},
                                            first_row=2, row_kind="line"))
    kept = [r for split in ("train", "validation") for r in prepared.tables[split][ROW_COLUMN]]
    assert sorted(kept) == sorted(set(range(2, 62)) - {7, 8, 52})
    assert len(prepared.tables["test"]) == 9 and 2 not in set(prepared.tables["test"][ROW_COLUMN])
    assert all(set(t["label"]) == {"a", "b"} for t in prepared.tables.values())
    assert "train: left out 3 line(s) of train.csv with an empty label (lines 7, 8, 52; data.unlabelled: drop)" \
        in prepared.notes
    assert any(note.startswith("test: left out 1 line(s) of test.csv") for note in prepared.notes)


@pytest.mark.parametrize(("value", "text"), [(1, "1"), (1.0, "1"), (np.int64(2), "2"), (np.float32(2.0), "2"),
                                             (" 1 ", "1"), ("1.0", "1.0"), (1.5, "1.5"), (True, "True"),
                                             ("cat", "cat")])
def test_label_text_reads_whole_numbers_alike(value: object, text: str) -> None:
    assert label_text(value) == text


def test_numbers_match_their_other_spellings_but_only_when_unambiguous() -> None:
    labels = LabelSet(["0", "1", "cat"])
    table = pd.DataFrame({"label": ["1.0", 0, 1.0, "0", np.int64(1), "cat", "01"]})
    assert labels.encode(table, "label", list(range(7)), "t.csv").tolist() == [1, 0, 1, 0, 1, 2, 1]
    ambiguous = LabelSet(["1", "1.0", "2"])
    assert ambiguous.lookup("1.0") == 1 and ambiguous.lookup("1") == 0 and ambiguous.lookup("1.00") is None
    assert ambiguous.lookup(2.0) == 2


def test_integer_and_float_label_files_give_the_same_classes(tmp_path: Path) -> None:
    """A Parquet column of ints (1, 2) and one of floats (1.0, 2.0, NaN elsewhere) are the same two classes."""
    _table(labels=[1 + i % 2 for i in range(40)]).to_parquet(tmp_path / "ints.parquet")
    _table(labels=[1.0 + i % 2 for i in range(40)]).to_parquet(tmp_path / "floats.parquet")
    (tmp_path / "test.csv").write_text("text,label\nx,1\ny,2.0\n", encoding="utf-8")
    for train in ("ints.parquet", "floats.parquet"):
        prepared = prepare_tables(_spec(split={"validation": 0.25}),
                                  _from_file(tmp_path / train, test=str(tmp_path / "test.csv")))
        assert prepared.labels == ["1", "2"]
        labels = LabelSet(prepared.labels)
        for split, table in prepared.tables.items():
            ids = labels.encode(table, "label", table[ROW_COLUMN].tolist(), split)
            assert [labels.names[i] for i in ids] == [label_text(v) if split != "test" else str(int(float(v)))
                                                      for v in table["label"]]
        assert {label_text(v) for v in prepared.tables["validation"]["label"]} == {"1", "2"}  # stratified


def test_the_option_is_checked_by_the_spec() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="unlabelled"):
        _spec(unlabelled="skip")
    assert _spec().unlabelled == "error"


def test_a_column_of_label_lists_is_named_as_multi_label_data() -> None:
    table = _table(4, labels=[["a"], ["a", "b"], "b", np.array(["b"])])
    with pytest.raises(DataError, match=r"train\.csv: column 'label' holds a list of labels in 3 line\(s\) \(lines 2, "
                                        r"3, 5\): multi-label data, but data\.task is multiclass\. Set data\.task: "
                                        r"multilabel.*or set data\.label to a column with one label"):
        LabelSet(["a", "b"]).encode(table, "label", [2, 3, 4, 5], "train.csv", "line")
    with pytest.raises(DataError, match="holds a list of labels in 3 row"):
        LabelSet.from_training_data(table, "label", given=None, source_order=None, where="train.csv")
