"""Tasks in the data: which task a label column implies, multilabel cells and targets, binary label order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mmfusion.data.cells import ROW_COLUMN
from mmfusion.data.label_lists import infer_task, label_names
from mmfusion.data.labels import LabelSet
from mmfusion.data.tables import prepare_tables
from mmfusion.default_plugins.csv_dataset import CsvConfig, CsvDataset
from mmfusion.errors import DataError
from mmfusion.interfaces.dataset import DatasetTables
from mmfusion.spec.data_spec import DataSpec


def _spec(**kwargs) -> DataSpec:  # type: ignore[no-untyped-def]
    return DataSpec.model_validate({"source": {"type": "csv", "train": "unused.csv"}, **kwargs})


def _tables(labels: list, column: str = "label") -> DatasetTables:
    return DatasetTables(train=pd.DataFrame({"text": [f"t{i}" for i in range(len(labels))], column: labels}))


def test_the_task_comes_from_the_spec_else_lists_or_label_sep_else_multiclass() -> None:
    two = pd.DataFrame({"label": ["yes", "no", "yes"]})
    lists = pd.DataFrame({"label": [["a"], ["a", "b"], []]})
    assert infer_task(_spec(), two, "label")[0] == "multiclass"  # two labels stay multiclass unless asked
    assert infer_task(_spec(task="binary"), two, "label") == ("binary", "data.task")
    assert infer_task(_spec(), lists, "label") == ("multilabel", "the label column 'label' holds lists of labels")
    assert infer_task(_spec(label_sep=";"), two, "label")[0] == "multilabel"


def test_multilabel_cells_are_lists_or_separated_text_and_an_empty_cell_is_missing() -> None:
    assert label_names(["b", "a", None], None) == ["b", "a"]
    assert label_names(np.array(["x"]), ";") == ["x"]
    assert label_names("a; b;", ";") == ["a", "b"]
    assert label_names(";", ";") == []  # none of the labels: valid
    assert label_names("  ", ";") is None and label_names(None, ";") is None  # missing: data.unlabelled decides
    assert label_names(3.0, None) == ["3"]


def test_multilabel_tables_give_the_union_of_labels_and_multi_hot_targets(tmp_path: Path) -> None:
    pd.DataFrame({"text": list("abcdefghij"),
                  "label": ["cat;dog", "dog", ";", "bird", "cat", "dog;bird", "cat", "dog", "cat", "bird"]}
                 ).to_csv(tmp_path / "train.csv", index=False)
    prepared = prepare_tables(_spec(label_sep=";", split={"validation": 0.2, "seed": 1}),
                              CsvDataset(CsvConfig(train=str(tmp_path / "train.csv"))).load())
    assert prepared.task == "multilabel" and prepared.labels == ["bird", "cat", "dog"]
    assert sorted(len(t) for t in prepared.tables.values()) == [2, 8]  # a random split: no class to stratify by
    labels = LabelSet.from_training_data(prepared.tables["train"], "label", given=None, source_order=prepared.labels,
                                         where="train.csv", task="multilabel", sep=";")
    table = pd.DataFrame({"label": ["cat;dog", ";", "bird"]})
    targets = labels.encode(table, "label", [2, 3, 4], "train.csv", "line")
    assert targets.dtype == np.float32 and labels.num_outputs == 3
    assert targets.tolist() == [[0, 1, 1], [0, 0, 0], [1, 0, 0]]


def test_multilabel_data_with_one_label_is_refused_by_the_label_set() -> None:
    prepared = prepare_tables(_spec(label_sep=";", split={"validation": 0}), _tables(["x;x", "x", "x", "x"]))
    assert prepared.task == "multilabel" and prepared.labels is None  # the label set gives the reason
    with pytest.raises(DataError, match=r"holds 1 distinct label\(s\); a multilabel classifier needs at least 2"):
        LabelSet.from_training_data(prepared.tables["train"], "label", given=None, source_order=prepared.labels,
                                    where="train", task=prepared.task, sep=";")


def test_multilabel_problems_name_every_row() -> None:
    labels = LabelSet(["bird", "cat"], task="multilabel", sep="|")
    table = pd.DataFrame({"label": ["cat|fish", "", "bird", "fish|cow"]})
    with pytest.raises(DataError, match=r"t\.csv, column 'label': empty label in lines 3 \(fill them in, or set "
                                        r"data\.unlabelled: drop.*unknown label 'cow' in lines 5; unknown label 'fish' "
                                        r"in lines 2, 5\. Known labels: bird, cat.*separated by '\|'"):
        labels.encode(table, "label", [2, 3, 4, 5], "t.csv", "line")


def test_empty_multilabel_cells_follow_data_unlabelled() -> None:
    tables = _tables([["a"], ["b"], None, ["a", "b"], []] * 4)
    with pytest.raises(DataError, match=r"4 row\(s\) have an empty label"):
        prepare_tables(_spec(split={"validation": 0}), tables)
    prepared = prepare_tables(_spec(split={"validation": 0}, unlabelled="drop"), tables)
    assert len(prepared.tables["train"]) == 16 and prepared.task == "multilabel"  # [] rows stay: none of them


def test_binary_needs_two_labels_and_puts_the_positive_one_second() -> None:
    table = pd.DataFrame({"label": ["spam", "ham", "spam"]})
    labels = LabelSet.from_training_data(table, "label", given=None, source_order=None, where="t", task="binary")
    assert labels.names == ["ham", "spam"] and labels.positive == "spam" and labels.num_outputs == 1
    flipped = LabelSet.from_training_data(table, "label", given=None, source_order=None, where="t", task="binary",
                                          positive="ham")
    assert flipped.names == ["spam", "ham"]
    assert flipped.encode(table, "label", [0, 1, 2], "t").tolist() == [0, 1, 0]
    three = pd.DataFrame({"label": ["a", "b", "c"]})
    with pytest.raises(DataError, match=r"t: data\.task is binary, but column 'label' holds 3 distinct labels \(a, b, "
                                        r"c\); binary needs exactly two\. Use data\.task: multiclass"):
        LabelSet.from_training_data(three, "label", given=None, source_order=None, where="t", task="binary")
    with pytest.raises(DataError, match="positive_label 'eggs' is not one of the labels"):
        LabelSet.from_training_data(table, "label", given=None, source_order=None, where="t", task="binary",
                                    positive="eggs")


def test_a_column_of_lists_with_task_multiclass_points_at_multilabel() -> None:
    tables = _tables([["a"], ["a", "b"], ["b"], ["a"]] * 5)
    prepared = prepare_tables(_spec(task="multiclass"), tables)
    assert prepared.task == "multiclass"
    with pytest.raises(DataError, match=r"holds a list of labels in \d+ row.*data.task is multiclass. Set data.task: "
                                        "multilabel"):
        LabelSet.from_training_data(prepared.tables["train"], "label", given=None, source_order=prepared.labels,
                                    where="train", task=prepared.task)


def test_table_rows_keep_their_numbers_through_a_multilabel_split() -> None:
    prepared = prepare_tables(_spec(split={"validation": 0.25}), _tables([["a"], ["b"], ["a", "b"], []] * 5))
    rows = sorted(r for t in prepared.tables.values() for r in t[ROW_COLUMN])
    assert rows == list(range(20))
