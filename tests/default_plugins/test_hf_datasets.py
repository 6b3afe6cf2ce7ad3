"""Dataset source hf_datasets: small datasets built offline (from_dict, save_to_disk, to_parquet), never the Hub."""

from __future__ import annotations

import json
import socket
from io import BytesIO
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image

from mmfusion.cli import cli
from mmfusion.default_plugins.csv_dataset import CsvConfig, CsvDataset
from mmfusion.default_plugins.hf_datasets import HfDatasetsConfig, HfDatasetsDataset
from mmfusion.default_plugins.modalities import ImageBytes, ImageModality
from mmfusion.errors import DataError
from mmfusion.interfaces.modality import CellContext

from ..conftest import write_spec

datasets = pytest.importorskip("datasets")

NAMES = ["same", "different"]  # not sorted: the run must keep the feature's order


_SPEC = """\
model:
  encoders:
    image: {{type: timm, model_name: test_efficientnet, image_size: 32, freeze: true}}
    text: {{type: hf_text, path: {bert}, freeze: true, pooling: mean}}
  fusion: {{type: concat, projection_dim: 32}}
  head: {{type: mlp, hidden_dims: [32], dropout: 0.0}}
data:
  source: {{type: hf_datasets, path: {path}}}
train:
  epochs: {epochs}
  batch_size: 16
  lr: 0.01
  warmup: 0.0
  cache_dir: {cache}
"""


def _spec_file(folder: Path, path: Path | str, bert: Path, cache: Path, epochs: int = 20) -> Path:
    return write_spec(folder, _SPEC.format(path=path, bert=bert, cache=cache, epochs=epochs))


def _png(colour: tuple[int, int, int]) -> bytes:
    buffer = BytesIO()
    Image.new("RGB", (8, 8), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def _small(rows: int = 6, *, tags: bool = False):  # type: ignore[no-untyped-def]
    """A Dataset with an Image column (bytes), a text column and a ClassLabel (or Sequence(ClassLabel)) label."""
    columns = {"picture": [{"bytes": _png((40 * i, 0, 0)), "path": None} for i in range(rows)],
               "caption": [f"row {i}" for i in range(rows)]}
    label = datasets.ClassLabel(names=NAMES)
    if tags:
        columns["tags"] = [[i % 2] if i % 3 else [0, 1] for i in range(rows)]
        feature = datasets.Sequence(label)
    else:
        columns["answer"] = [i % 2 for i in range(rows)]
    dataset = datasets.Dataset.from_dict(columns).cast_column("picture", datasets.Image())
    return dataset.cast_column("tags", feature) if tags else dataset.cast_column("answer", label)


def _load(path: Path | str, **options) -> object:  # type: ignore[no-untyped-def]
    return HfDatasetsDataset(HfDatasetsConfig(path=str(path), **options)).load()


def test_a_saved_dataset_dict_gives_tables_with_label_names_and_encoded_images(tmp_path: Path) -> None:
    folder = tmp_path / "saved"
    datasets.DatasetDict({"train": _small(6), "valid": _small(4), "test": _small(2)}).save_to_disk(str(folder))
    tables = _load(folder)
    assert [len(tables.train), len(tables.validation), len(tables.test)] == [6, 4, 2]  # 'valid' found as validation
    assert tables.labels == NAMES and tables.label_column == "answer"
    assert tables.columns == {"image": "picture", "text": "caption"}  # the one Image and the one text column
    assert tables.train["answer"].tolist() == ["same", "different"] * 3
    assert tables.names == {"train": "hf_datasets saved[train]", "validation": "hf_datasets saved[valid]",
                            "test": "hf_datasets saved[test]"}
    assert tables.first_row == 0 and tables.row_kind == "row"
    cell = tables.train["picture"][1]
    assert isinstance(cell, dict) and cell["bytes"][:4] == b"\x89PNG"  # encoded, not decoded up front
    reference = ImageModality().parse([cell], CellContext("x", 1, ("picture",)))
    assert isinstance(reference, ImageBytes) and ImageModality().load(reference).getpixel((0, 0)) == (40, 0, 0)


def test_splits_are_chosen_or_left_out_and_a_missing_one_lists_what_exists(tmp_path: Path) -> None:
    folder = tmp_path / "saved"
    datasets.DatasetDict({"train": _small(4), "validation": _small(2), "holdout": _small(2)}).save_to_disk(str(folder))
    tables = _load(folder, splits={"validation": None, "test": "holdout"})
    assert tables.validation is None and len(tables.test) == 2 and tables.names["test"] == "hf_datasets saved[holdout]"
    with pytest.raises(DataError, match=r"splits\.test: saved has no split 'tset'; its splits are train, validation, "
                                        "holdout"):
        _load(folder, splits={"test": "tset"})
    with pytest.raises(DataError, match=r"splits\.train: saved has no split 'training'"):
        _load(folder, splits={"train": "training"})


def test_a_split_published_without_labels_is_used_only_when_named(tmp_path: Path) -> None:
    unlabelled = _small(3).cast_column("answer", datasets.Value("int64")).map(lambda row: {"answer": -1})
    unlabelled = unlabelled.cast_column("answer", datasets.ClassLabel(names=NAMES))
    datasets.DatasetDict({"train": _small(4), "test": unlabelled}).save_to_disk(str(tmp_path / "saved"))
    assert _load(tmp_path / "saved").test is None  # auto: a test split whose labels are all -1 is no test table
    named = _load(tmp_path / "saved", splits={"test": "test"}).test
    assert len(named) == 3 and named["answer"].isna().all()  # -1 is ClassLabel's "no label": an empty cell


def test_a_saved_single_dataset_is_the_training_table(tmp_path: Path) -> None:
    _small(4).save_to_disk(str(tmp_path / "one"))
    tables = _load(tmp_path / "one")
    assert len(tables.train) == 4 and tables.validation is None and tables.test is None
    with pytest.raises(DataError, match="test: holdout, but one is a single dataset without splits"):
        _load(tmp_path / "one", splits={"test": "holdout"})
    with pytest.raises(DataError, match="name does not apply to .*one, a folder written by save_to_disk"):
        _load(tmp_path / "one", name="sst2")


def test_a_parquet_file_keeps_its_class_label_names(tmp_path: Path) -> None:
    _small(4).to_parquet(str(tmp_path / "data.parquet"))
    tables = _load(tmp_path / "data.parquet", cache_dir=str(tmp_path / "cache"))
    assert tables.train["answer"].tolist() == ["same", "different"] * 2 and tables.labels == NAMES


def test_a_script_folder_or_a_damaged_folder_is_named(tmp_path: Path) -> None:
    (tmp_path / "scripted").mkdir()
    (tmp_path / "scripted" / "scripted.py").write_text("import datasets\n", encoding="utf-8")
    if int(datasets.__version__.split(".")[0]) >= 4:
        with pytest.raises(DataError, match="'.*scripted' is a loading script, which datasets 4 and later no longer "
                                            "run"):
            _load(tmp_path / "scripted")
        with pytest.raises(DataError, match="trust_remote_code: datasets .* runs no loading scripts"):
            _load(tmp_path / "scripted", trust_remote_code=True)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "dataset_dict.json").write_text('{"splits": ["train"]}', encoding="utf-8")
    with pytest.raises(DataError, match=r"cannot read .*broken \(a folder written by save_to_disk\)"):
        _load(tmp_path / "broken")


def test_offline_a_hub_id_not_in_the_cache_names_it_and_touches_no_network(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    attempts: list[object] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(args)
        raise OSError("network used in a test")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    for variable in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):  # only mmfusion's own switch asks for offline
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("MMFUSION_OFFLINE", "1")
    with pytest.raises(DataError, match=r"dataset 'someone/no-such-set' \(configuration 'x'\) is not in the local "
                                        r"Hugging Face datasets cache, and offline mode is on \(MMFUSION_OFFLINE=1\)"
                                        r".*save_to_disk\('FOLDER'\).*data\.source\.path"):
        _load("someone/no-such-set", name="x", cache_dir=str(tmp_path / "cache"))
    assert attempts == []
    assert datasets.config.HF_HUB_OFFLINE is False and constants.HF_HUB_OFFLINE is False  # restored


def test_the_source_is_registered_and_its_spec_validates(tmp_path: Path) -> None:
    from mmfusion.spec import load_spec

    spec = load_spec(_spec_file(tmp_path, "user/some-set", tmp_path, tmp_path))
    assert spec.data.source.type == "hf_datasets" and spec.data.source.splits.validation == "auto"


def test_multi_label_columns_hold_lists_of_names_and_multiclass_training_refuses_them(
        tmp_path: Path, tiny_bert: Path) -> None:
    datasets.DatasetDict({"train": _small(12, tags=True), "test": _small(3, tags=True)}).save_to_disk(
        str(tmp_path / "tags"))
    tables = _load(tmp_path / "tags")
    assert tables.label_column == "tags" and tables.labels == NAMES
    assert tables.train["tags"].tolist()[:3] == [["same", "different"], ["different"], ["same"]]
    spec = _spec_file(tmp_path, tmp_path / "tags", tiny_bert, tmp_path / "cache")
    spec.write_text(spec.read_text().replace("data:\n", "data:\n  task: multiclass\n"), encoding="utf-8")
    result = CliRunner().invoke(cli, ["train", str(spec), "--out", str(tmp_path / "run"), "--quiet"])
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert "column 'tags' holds a list of labels" in result.output and "multi-label" in result.output
    assert "data.task is multiclass. Set data.task: multilabel" in result.output


@pytest.mark.slow
def test_multi_label_columns_train_a_multilabel_model_in_the_features_order(tmp_path: Path, tiny_bert: Path) -> None:
    datasets.DatasetDict({"train": _small(24, tags=True), "test": _small(6, tags=True)}).save_to_disk(
        str(tmp_path / "tags"))
    spec = _spec_file(tmp_path, tmp_path / "tags", tiny_bert, tmp_path / "cache", epochs=2)
    result = CliRunner().invoke(cli, ["train", str(spec), "--out", str(tmp_path / "run"), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "micro-F1" in result.output
    assert json.loads((tmp_path / "run" / "labels.json").read_text()) == NAMES  # the feature's order, not sorted
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["task"] == "multilabel" and summary["monitor"] == "val_micro_f1"
    assert set(summary["thresholds"]) == set(NAMES) and (tmp_path / "run" / "thresholds.json").exists()


def _xor_dataset_dict(xor_data: Path):  # type: ignore[no-untyped-def]
    """The XOR data (label needs both image and text) as a DatasetDict: images as bytes, a ClassLabel answer."""
    table = pd.read_csv(xor_data)
    columns = {"picture": [{"bytes": (xor_data.parent / p).read_bytes(), "path": None} for p in table["image"]],
               "caption": table["text"].tolist(), "answer": [NAMES.index(v) for v in table["label"]]}
    full = datasets.Dataset.from_dict(columns).cast_column("picture", datasets.Image())
    full = full.cast_column("answer", datasets.ClassLabel(names=NAMES))
    return datasets.DatasetDict({"train": full.select(range(180)), "validation": full.select(range(180, 240)),
                                 "test": full.select(range(240, 300))})


@pytest.mark.slow
def test_training_on_a_saved_dataset_learns_keeps_label_names_and_reuses_cached_features(
        xor_data: Path, tiny_bert: Path, tmp_path: Path) -> None:
    folder = tmp_path / "xor-hf"
    _xor_dataset_dict(xor_data).save_to_disk(str(folder))
    spec = _spec_file(tmp_path, folder, tiny_bert, tmp_path / "cache")
    first = CliRunner().invoke(cli, ["train", str(spec), "--out", str(tmp_path / "run"), "--quiet"])
    assert first.exit_code == 0, first.output
    run = tmp_path / "run"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["test"]["accuracy"] >= 0.85  # chance is 0.5: neither input alone says anything
    assert json.loads((run / "labels.json").read_text()) == NAMES  # the ClassLabel's order, not sorted
    assert json.loads((run / "inputs.json").read_text())["columns"] == {"image": ["picture"], "text": ["caption"]}
    assert summary["encoded_now"]["image"] > 0
    again = CliRunner().invoke(cli, ["train", str(spec), "--out", str(tmp_path / "again"), "--quiet"])
    assert again.exit_code == 0, again.output
    assert json.loads((tmp_path / "again" / "summary.json").read_text())["encoded_now"] == {"image": 0, "text": 0}

    # the test split written to Parquet by datasets: the csv source reads the pictures from their bytes ...
    parquet = tmp_path / "test.parquet"
    _xor_dataset_dict(xor_data)["test"].to_parquet(str(parquet))
    tables = CsvDataset(CsvConfig(train=str(parquet), format="parquet")).load()
    reference = ImageModality().parse([tables.train["picture"][0]], CellContext("test.parquet", 0, ("picture",)))
    assert isinstance(reference, ImageBytes)
    # ... and predict --csv classifies it (its answer column holds ClassLabel ids, not needed here)
    out = tmp_path / "predictions.csv"
    result = CliRunner().invoke(cli, ["predict", str(run), "--csv", str(parquet), "--output", str(out)])
    assert result.exit_code == 0, result.output
    predictions = pd.read_csv(out)
    expected = [NAMES[i] for i in pd.read_parquet(parquet)["answer"]]
    assert len(predictions) == 60 and (predictions["predicted"] == expected).mean() >= 0.85
    assert "\\x89PNG" not in out.read_text()  # the picture column is not dumped byte by byte
    as_json = CliRunner().invoke(cli, ["predict", str(run), "--csv", str(parquet), "--format", "json"])
    assert as_json.exit_code == 0, as_json.output
    rows = json.loads(as_json.stdout)
    assert len(rows) == 60 and rows[0]["picture"].startswith("<image: ") and rows[0]["predicted"] in NAMES
