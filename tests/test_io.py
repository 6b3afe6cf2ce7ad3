"""Atomic writes: whole files or none, with ordinary permissions, and no temporary files left behind."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import torch

from mmfusion import io


def test_files_get_the_permissions_of_an_ordinary_write(tmp_path: Path) -> None:
    io.write_json_atomic(tmp_path / "a.json", {"x": 1})
    io.write_safetensors_atomic(tmp_path / "w.safetensors", {"t": torch.zeros(2)})
    ordinary = tmp_path / "plain.txt"
    ordinary.write_text("x")
    for name in ("a.json", "w.safetensors"):
        assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == stat.S_IMODE(os.stat(ordinary).st_mode)
    assert io.read_json(tmp_path / "a.json") == {"x": 1}


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "a.json"
    io.write_json_atomic(target, {"version": 1})

    def broken(tmp: str) -> None:
        Path(tmp).write_text("{half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        io._atomic(target, broken)
    assert io.read_json(target) == {"version": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]
