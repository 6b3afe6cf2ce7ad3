"""`mmfusion embed`: a table's vectors to Parquet or NumPy, and bad requests as clear errors (exit 2)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from click.testing import CliRunner

from mmfusion.cli import cli


def _embed(*args: str | Path):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, ["embed", *map(str, args)])


def test_embed_writes_parquet_and_npy(xor_run, xor_data: Path, tmp_path: Path) -> None:  # type: ignore
    result = _embed(xor_run.run_dir, "--csv", xor_data, "--out", tmp_path / "e.parquet", "--chunk-rows", "128",
                    "--batch-size", "32", "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert "wrote the embeddings of 300 rows" in result.output
    frame = pd.read_parquet(tmp_path / "e.parquet")
    assert frame["row"].tolist() == list(range(300)) and frame["text.present"].all()
    assert list(frame.columns) == ["row", "fused", "image", "text", "image.present", "text.present"]
    result = _embed(xor_run.run_dir, "--csv", xor_data, "--out", tmp_path / "text.npy", "--what", "text")
    assert result.exit_code == 0, result.output
    assert np.load(tmp_path / "text.npy").shape == (300, len(frame["text"][0]))


def test_bad_requests_exit_2_with_a_clear_message(xor_run, xor_data: Path, tmp_path: Path) -> None:  # type: ignore
    pd.DataFrame({"picture": ["a.png"], "text": ["x"]}).to_csv(tmp_path / "t.csv", index=False)
    cases = {
        "lacks the column(s) image": (xor_run.run_dir, "--csv", tmp_path / "t.csv", "--out", tmp_path / "e.parquet"),
        "unknown embedding 'fuse' — did you mean 'fused'?": (xor_run.run_dir, "--csv", xor_data, "--what",
                                                             "fuse", "--out", tmp_path / "e.parquet"),
        "an .npy file holds one array": (xor_run.run_dir, "--csv", xor_data, "--out", tmp_path / "e.npy"),
    }
    for message, args in cases.items():
        result = _embed(*args)
        assert result.exit_code == 2 and message in result.output, result.output
    assert list(tmp_path.iterdir()) == [tmp_path / "t.csv"]  # nothing half-written


def test_an_unknown_suffix_or_a_missing_run_exit_2(tmp_path: Path) -> None:
    table = tmp_path / "t.csv"
    pd.DataFrame({"image": ["a.png"], "text": ["x"]}).to_csv(table, index=False)
    result = _embed(tmp_path / "no-run", "--csv", table, "--out", tmp_path / "e.csv")
    assert result.exit_code == 2 and "give a file ending in .parquet, .npz or .npy" in result.output
    result = _embed(tmp_path / "no-run", "--csv", table, "--out", tmp_path / "e.parquet")
    assert result.exit_code == 2 and "no-run" in result.output, result.output
