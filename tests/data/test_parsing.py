"""Row parsing: absent modalities, bad images named by file and line, labels checked."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mmfusion.data.cells import ROW_COLUMN
from mmfusion.data.labels import LabelSet
from mmfusion.data.parsing import parse_table
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


class CountingImages(ImageModality):
    """The image modality, counting the cells it parses and the fingerprints it computes."""

    def __init__(self) -> None:
        self.parsed, self.fingerprints = 0, 0

    def parse(self, cells, context):  # type: ignore[no-untyped-def]
        self.parsed += 1
        return super().parse(cells, context)

    def fingerprint(self, reference):  # type: ignore[no-untyped-def]
        self.fingerprints += 1
        return super().fingerprint(reference)


def test_a_repeated_cell_is_parsed_once_and_shares_its_reference(tmp_path: Path) -> None:
    rows = [{"image": "images/ok.png" if i % 3 else "images/broken.png", "title": f"t{i}", "body": "", "label": "a"}
            for i in range(9)]
    images = CountingImages()
    parsed = parse_table(_table(tmp_path, rows), split="train", source="train.csv", columns=COLUMNS, root=tmp_path,
                         modalities={"image": images, "text": TextModality()}, row_kind="line",
                         on_bad_value="absent")
    assert images.parsed == 2  # one good file, one broken one, each named in three or six rows
    refs = parsed.references["image"]
    assert all(refs[i] is refs[1] for i in (1, 2, 4, 5, 7, 8)) and refs[0] is None
    assert [message.split(" (")[0] for message in parsed.bad["image"]] == [f"train.csv line {n}" for n in (2, 5, 8)]


def test_a_released_input_keeps_only_which_rows_have_it(tmp_path: Path) -> None:
    table = _table(tmp_path, [{"image": "images/ok.png", "title": "a", "body": "", "label": "a"},
                              {"image": "", "title": "b", "body": "", "label": "a"}])
    parsed = _parse(tmp_path, table)
    parsed.release("image")
    assert "image" not in parsed.references and parsed.present("image").tolist() == [True, False]
    assert parsed.counts() == {"text": 2, "image": 1}


def test_fingerprints_are_computed_once_per_distinct_reference(tmp_path: Path) -> None:
    from mmfusion.data.fingerprints import MemoFingerprints

    images = CountingImages()
    memo = MemoFingerprints(images)
    table = _table(tmp_path, [{"image": "images/ok.png", "title": "a", "body": "", "label": "a"}] * 5)
    refs = _parse(tmp_path, table).references["image"]
    fingerprints = {memo.fingerprint(r) for r in refs + refs}
    assert len(fingerprints) == 1 and images.fingerprints == 1
    assert memo.load(refs[0]).size == (8, 8)  # everything else is the modality's own
