"""Splits (stratified or grouped, seeded), row limits, and the column mapping."""

from __future__ import annotations

import pandas as pd
import pytest

from mmfusion.data.cells import ROW_COLUMN
from mmfusion.data.columns import resolve_columns
from mmfusion.data.tables import prepare_tables
from mmfusion.default_plugins.modalities import ImageModality, TextModality
from mmfusion.errors import DataError
from mmfusion.interfaces.dataset import DatasetTables
from mmfusion.spec.data_spec import DataSpec


def _spec(**kwargs) -> DataSpec:  # type: ignore[no-untyped-def]
    return DataSpec.model_validate({"source": {"type": "csv", "train": "unused.csv"}, **kwargs})


def _table(n: int = 100) -> pd.DataFrame:
    return pd.DataFrame({"text": [f"t{i}" for i in range(n)], "label": ["a" if i % 4 else "b" for i in range(n)],
                         "group": [i // 5 for i in range(n)]})


def test_stratified_seeded_split_keeps_row_numbers() -> None:
    prepared = prepare_tables(_spec(split={"validation": 0.2, "test": 0.2, "seed": 3}),
                              DatasetTables(train=_table(), first_row=2, row_kind="line"))
    sizes = {k: len(v) for k, v in prepared.tables.items()}
    assert sizes == {"train": 60, "validation": 20, "test": 20}
    for table in prepared.tables.values():
        assert (table["label"] == "b").mean() == pytest.approx(0.25, abs=0.05)  # stratified
    rows = sorted(r for t in prepared.tables.values() for r in t[ROW_COLUMN])
    assert rows == list(range(2, 102))  # every row exactly once, numbered like CSV lines
    again = prepare_tables(_spec(split={"validation": 0.2, "test": 0.2, "seed": 3}), DatasetTables(train=_table()))
    assert again.tables["test"]["text"].tolist() == prepared.tables["test"]["text"].tolist()


@pytest.mark.parametrize("seed", range(6))
def test_a_label_with_one_row_stays_in_training_and_the_rest_is_stratified(seed: int) -> None:
    table = _table(60)
    table.loc[7, "label"] = "rare"
    prepared = prepare_tables(_spec(split={"validation": 0.2, "test": 0.2, "seed": seed}), DatasetTables(train=table))
    assert "rare" in set(prepared.tables["train"]["label"])
    assert {k: len(v) for k, v in prepared.tables.items()} == {"train": 36, "validation": 12, "test": 12}
    for split in ("validation", "test"):
        assert set(prepared.tables[split]["label"]) == {"a", "b"}  # still stratified: both labels on each side
    assert prepared.labels == ["a", "b", "rare"]
    assert any("occurs once stay in training" in note for note in prepared.notes)


def test_labels_come_from_the_whole_table_even_when_a_limit_drops_one() -> None:
    table = _table(40)
    table.loc[0:1, "label"] = "c"
    prepared = prepare_tables(_spec(limit={"train": 5}), DatasetTables(train=table))
    assert prepared.labels == ["a", "b", "c"] and len(prepared.tables["train"]) == 5


def test_group_split_keeps_groups_together_and_given_tables_are_kept() -> None:
    prepared = prepare_tables(_spec(split={"validation": 0.2}),
                              DatasetTables(train=_table(), test=_table(10), group_column="group"))
    train_groups = set(prepared.tables["train"]["group"])
    assert not train_groups & set(prepared.tables["validation"]["group"])
    assert len(prepared.tables["test"]) == 10


def test_limits_take_a_seeded_subset() -> None:
    prepared = prepare_tables(_spec(split={"validation": 0.0}, limit={"train": 30}), DatasetTables(train=_table()))
    assert len(prepared.tables["train"]) == 30 and "validation" not in prepared.tables
    assert any("using 30" in note for note in prepared.notes)


def test_empty_training_table_is_an_error() -> None:
    with pytest.raises(DataError, match="empty"):
        prepare_tables(_spec(), DatasetTables(train=_table(0)))


def test_columns_default_to_modality_names_and_errors_suggest(registry) -> None:  # type: ignore[no-untyped-def]
    encoders = {"image": object(), "text": object()}
    modalities = {"image": ImageModality(), "text": TextModality()}
    columns = resolve_columns(encoders, modalities, {"text": ["title", "body"]}, {}, ["image", "title", "body"],
                              "train.csv")
    assert columns == {"image": ["image"], "text": ["title", "body"]}
    with pytest.raises(DataError, match="column 'imgae' is not in train.csv — did you mean 'image'"):
        resolve_columns(encoders, modalities, {"image": "imgae"}, {}, ["image", "text"], "train.csv")
    with pytest.raises(DataError, match="no column for modality 'image': set data.columns.image"):
        resolve_columns(encoders, modalities, {}, {}, ["picture", "text"], "train.csv")
    with pytest.raises(DataError, match="reads one column"):
        resolve_columns(encoders, modalities, {"image": ["a", "b"]}, {}, ["a", "b", "text"], "train.csv")
    with pytest.raises(DataError, match="data.columns names audio"):
        resolve_columns(encoders, modalities, {"audio": "x"}, {}, ["image", "text", "x"], "train.csv")


def test_the_source_label_order_is_used_only_for_the_source_label_column() -> None:
    table = _table().assign(kind=lambda t: ["x" if i % 2 else "y" for i in range(len(t))])
    own = prepare_tables(_spec(), DatasetTables(train=table, label_column="label", labels=["b", "a"]))
    assert own.labels == ["b", "a"]  # the source's order (e.g. a ClassLabel's names), not sorted
    other = prepare_tables(_spec(label="kind"), DatasetTables(train=table, label_column="label", labels=["b", "a"]))
    assert other.labels == ["x", "y"]  # another column: its own labels
