"""Row parsing: absent modalities, bad images named by file and line, labels checked."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mmfusion.data.labels import LabelSet
from mmfusion.data.parsing import parse_table
from mmfusion.data.tables import ROW_COLUMN
from mmfusion.default_plugins.modalities import ImageModality, TextModality
from mmfusion.errors import DataError

MODALITIES = {"image": ImageModality(), "text": TextModality()}
COLUMNS = {"image": ["image"], "text": ["title", "body"]}


def _table(folder: Path, rows: list[dict]) -> pd.DataFrame:
    from PIL import Image

    (folder / "images").mkdir(exist_ok=True)
    Image.new("RGB", (8, 8), (200, 0, 0)).save(folder / "images" / "ok.png")
    (folder / "images" / "broken.png").write_bytes(b"not a png at all")
    table = pd.DataFrame(rows)
    table[ROW_COLUMN] = range(2, 2 + len(table))  # CSV line numbers
    return table


def _parse(folder: Path, table: pd.DataFrame, **kwargs):  # type: ignore[no-untyped-def]
    return parse_table(table, split="train", source="train.csv", modalities=MODALITIES, columns=COLUMNS,
                       root=folder, row_kind="line", **kwargs)


def test_empty_cells_mark_a_modality_absent_and_texts_join(tmp_path: Path) -> None:
    table = _table(tmp_path, [
        {"image": "images/ok.png", "title": "Red", "body": "a red square", "label": "a"},
        {"image": "", "title": "", "body": "only body", "label": "b"},
        {"image": "images/ok.png", "title": float("nan"), "body": None, "label": "a"},
    ])
    parsed = _parse(tmp_path, table)
    assert parsed.references["text"] == ["Red\na red square", "only body", None]
    assert parsed.present("image").tolist() == [True, False, True]
    assert parsed.references["image"][0] == str(tmp_path / "images" / "ok.png")
    assert parsed.rows == [2, 3, 4] and parsed.counts() == {"image": 2, "text": 2}


def test_missing_and_unreadable_images_are_errors_naming_file_and_line(tmp_path: Path) -> None:
    table = _table(tmp_path, [
        {"image": "images/ok.png", "title": "t", "body": "b", "label": "a"},
        {"image": "images/nope.png", "title": "t", "body": "b", "label": "a"},
        {"image": "images/broken.png", "title": "t", "body": "b", "label": "a"},
        {"image": "images/nope.png", "title": "t", "body": "b", "label": "a"},
    ])
    with pytest.raises(DataError) as info:
        _parse(tmp_path, table)
    message = str(info.value)
    assert "3 unusable value(s) in train.csv" in message
    assert "train.csv line 3 (column 'image'): image file" in message and "nope.png does not exist" in message
    assert "train.csv line 4 (column 'image')" in message and "broken.png is not an image Pillow can read" in message
    assert "train.csv line 5 (column 'image')" in message  # the same bad file on another line is reported too
    assert message.count("train.csv line") == 3  # each once: no location doubled into the problem
    assert "data.on_bad_value: {image: absent}" in message  # the way out, from the policy
    assert [v.input for v in info.value.values] == ["image"] * 3 and info.value.values[2].where.endswith("'image')")


@pytest.mark.parametrize("policy", ["absent", {"image": "absent"}], ids=["all-inputs", "per-input"])
def test_on_bad_value_absent_counts_and_keeps_the_rows(tmp_path: Path, policy) -> None:  # type: ignore[no-untyped-def]
    table = _table(tmp_path, [
        {"image": "images/ok.png", "title": "t", "body": "b", "label": "a"},
        {"image": "images/nope.png", "title": "t", "body": "b", "label": "a"},
    ])
    parsed = _parse(tmp_path, table, on_bad_value=policy)
    assert len(parsed) == 2 and parsed.present("image").tolist() == [True, False]
    assert len(parsed.bad["image"]) == 1 and "line 3" in parsed.bad["image"][0]
    with pytest.raises(DataError, match="line 3"):
        _parse(tmp_path, table, on_bad_value={"text": "absent"})  # the image input's policy is still error


def test_unknown_and_empty_labels_name_the_lines(tmp_path: Path) -> None:
    table = _table(tmp_path, [
        {"image": "images/ok.png", "title": "t", "body": "b", "label": "a"},
        {"image": "images/ok.png", "title": "t", "body": "b", "label": "zebra"},
        {"image": "images/ok.png", "title": "t", "body": "b", "label": ""},
        {"image": "images/ok.png", "title": "t", "body": "b", "label": "zebra"},
    ])
    with pytest.raises(DataError) as info:
        _parse(tmp_path, table, labels=LabelSet(["a", "b"]), label_column="label")
    message = str(info.value)
    assert "empty label in lines 4" in message
    assert "unknown label 'zebra' in lines 3, 5" in message
    assert "Known labels: a, b" in message


def test_label_set_from_training_data_is_sorted_and_needs_two() -> None:
    table = pd.DataFrame({"label": ["b", "a", "b", None]})
    assert LabelSet.from_training_data(table, "label", given=None, source_order=None, where="t").names == ["a", "b"]
    assert LabelSet.from_training_data(table, "label", given=["b", "a"], source_order=None, where="t").names == \
        ["b", "a"]
    with pytest.raises(DataError, match="at least 2"):
        LabelSet.from_training_data(pd.DataFrame({"label": ["a", "a"]}), "label", given=None, source_order=None,
                                    where="t")
    with pytest.raises(DataError, match="no label column 'category'"):
        LabelSet.from_training_data(table, "category", given=None, source_order=None, where="t")
