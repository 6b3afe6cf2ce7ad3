"""Images that pass the parse-time check but do not decode (truncated pixel data), and labels left out by
``data.unlabelled: drop``, through real runs: absent and counted, or an error naming file and row."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image, ImageFile

from mmfusion.api import evaluate_run, fit
from mmfusion.errors import DataError
from mmfusion.testing.data import make_xor_dataset

SPEC = """\
model:
  encoders:
    image: {{type: timm, model_name: test_efficientnet, image_size: 32, freeze: {freeze}}}
  fusion: {{type: concat, projection_dim: 8}}
  head: {{type: linear}}
data:
  source: {{type: csv, train: {csv}}}
  split: {{validation: 0.25, test: 0.0}}
  {policy}
  unlabelled: {unlabelled}
train: {{epochs: 1, batch_size: 8, cache_dir: {cache}, num_workers: 0}}
"""


def cut_png_pixels(path: Path) -> None:
    """Halve a PNG's compressed pixel data but keep its checksums right: Image.verify() still passes."""
    data = path.read_bytes()
    at = data.index(b"IDAT") - 4
    length = struct.unpack(">I", data[at:at + 4])[0]
    pixels = data[at + 8:at + 8 + length][:length // 2]
    chunk = struct.pack(">I", len(pixels)) + b"IDAT" + pixels + struct.pack(">I", zlib.crc32(b"IDAT" + pixels))
    path.write_bytes(data[:at] + chunk + data[at + 12 + length:])


def cut_file(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])


@pytest.fixture
def damaged(tmp_path: Path) -> Path:
    """24 rows; line 3's PNG and line 4's JPEG are cut after their headers."""
    import numpy as np

    csv = make_xor_dataset(tmp_path, n=24)
    table = pd.read_csv(csv, dtype=str)
    noise = np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "images" / "cut.png")
    Image.fromarray(noise).save(tmp_path / "images" / "cut.jpg", quality=90)
    cut_png_pixels(tmp_path / "images" / "cut.png")
    cut_file(tmp_path / "images" / "cut.jpg")
    for name in ("cut.png", "cut.jpg"):
        with Image.open(tmp_path / "images" / name) as image:
            image.verify()  # the parse-time check passes: only decoding finds the damage
    table.loc[1, "image"], table.loc[2, "image"] = "images/cut.png", "images/cut.jpg"
    table.to_csv(csv, index=False)
    return csv


def _spec(folder: Path, csv: Path, *, freeze: bool, policy: str = "on_bad_value: {image: absent}",
          unlabelled: str = "error") -> Path:
    path = folder / "spec.yaml"
    path.write_text(SPEC.format(freeze=str(freeze).lower(), csv=csv, policy=policy,
                                unlabelled=unlabelled, cache=folder / "cache"), encoding="utf-8")
    return path


def test_pillow_does_not_pad_truncated_images() -> None:
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


@pytest.mark.parametrize("freeze", [True, False], ids=["cached-features", "live-encoder"])
@pytest.mark.slow
def test_images_that_do_not_decode_become_absent_and_are_counted(damaged: Path, tmp_path: Path,
                                                                 freeze: bool) -> None:
    result = fit(_spec(tmp_path, damaged, freeze=freeze), out=tmp_path / "run")
    data = result.summary["data"]
    assert sum(part["bad_values_as_absent"].get("image", 0) for part in data.values()) == 2
    assert sum(part["present"]["image"] for part in data.values()) == 22


@pytest.mark.parametrize("freeze", [True, False], ids=["cached-features", "live-encoder"])
def test_images_that_do_not_decode_are_an_error_naming_file_and_line(damaged: Path, tmp_path: Path,
                                                                     freeze: bool) -> None:
    with pytest.raises(DataError) as info:
        fit(_spec(tmp_path, damaged, freeze=freeze, policy="on_bad_value: error"), out=tmp_path / "run")
    message = str(info.value)
    assert "2 unusable value(s)" in message and "data.on_bad_value: {image: absent}" in message
    assert "line 3 (column 'image'): image file" in message and "cut.png is truncated or damaged" in message
    assert "line 4 (column 'image'): image file" in message and "cut.jpg is truncated or damaged" in message


@pytest.mark.slow
def test_evaluate_finds_them_too(damaged: Path, tmp_path: Path) -> None:
    clean = make_xor_dataset(tmp_path / "clean", n=24)
    run = fit(_spec(tmp_path, clean, freeze=True), out=tmp_path / "run").run_dir
    with pytest.raises(DataError, match=r"data\.csv line 3 \(column 'image'\): image file \S*cut\.png is truncated"):
        evaluate_run(run, damaged, out=tmp_path / "eval", on_bad_value={"image": "error"})
    with pytest.raises(DataError, match=r"--on-bad-value absent"):
        evaluate_run(run, damaged, out=tmp_path / "eval", on_bad_value="error")
    report = evaluate_run(run, damaged, out=tmp_path / "eval", on_bad_value={"image": "absent"})
    assert report.rows == 24
    from click.testing import CliRunner

    from mmfusion.cli import cli

    result = CliRunner().invoke(cli, ["evaluate", str(run), "--data", str(damaged), "--out", str(tmp_path / "cli"),
                                       "--on-bad-value", "absent", "--json", "--quiet"])
    assert result.exit_code == 0, result.output
    assert '"rows": 24' in result.output


@pytest.mark.slow
def test_unlabelled_drop_leaves_rows_out_of_training_and_evaluation(tmp_path: Path) -> None:
    csv = make_xor_dataset(tmp_path, n=24)
    table = pd.read_csv(csv, dtype=str)
    table.loc[[0, 5, 9], "label"] = ""
    table.to_csv(csv, index=False)
    result = fit(_spec(tmp_path, csv, freeze=True, unlabelled="drop"), out=tmp_path / "run")
    assert sum(part["rows"] for part in result.summary["data"].values()) == 21
    assert "train: left out 3 line(s) of data.csv with an empty label (lines 2, 7, 11; data.unlabelled: drop)" \
        in result.summary["notes"]
    report = evaluate_run(result.run_dir, csv, out=tmp_path / "eval")
    assert report.rows == 21
