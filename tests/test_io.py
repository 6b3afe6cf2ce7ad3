"""Atomic writes: whole files or none, with ordinary permissions, and no temporary files left behind."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import torch

from mmfusion import io
from mmfusion.errors import OutputError


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
        io.write_atomic(target, broken)
    assert io.read_json(target) == {"version": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_a_size_limit_is_a_clear_error_naming_the_file_and_leaves_nothing(tmp_path: Path) -> None:
    """RLIMIT_FSIZE in a child process: the write fails with EFBIG (Python ignores SIGXFSZ)."""
    import subprocess
    import sys

    code = f"""
import resource, torch
from mmfusion import io
from mmfusion.errors import OutputError
from mmfusion.errors import OutputError
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
for write in (lambda: io.write_safetensors_atomic({str(tmp_path / 'w.safetensors')!r}, {{'t': torch.zeros(10000)}}),
              lambda: io.write_text_atomic({str(tmp_path / 'big.txt')!r}, 'x' * 10000)):
    try:
        write()
    except OutputError as exc:
        print(exc)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 2
    assert "w.safetensors" in lines[0] and "File too large" in lines[0] and "ulimit" in lines[0]
    assert "big.txt" in lines[1] and "File too large" in lines[1]
    assert list(tmp_path.iterdir()) == []


def test_a_full_device_is_written_in_place_never_replaced(tmp_path: Path) -> None:
    """/dev/full as an output: ENOSPC named; the device node itself must survive (no rename over it)."""
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    with pytest.raises(OutputError, match=r"/dev/full: No space left on device"):
        io.write_text_atomic(Path("/dev/full"), "x" * 100)
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_folders_in_the_way_are_named(tmp_path: Path) -> None:
    (tmp_path / "folder").mkdir()
    with pytest.raises(OutputError, match="is a folder"):
        io.write_text_atomic(tmp_path / "folder", "x")
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="is an existing file, not a folder"):
        io.write_text_atomic(tmp_path / "file" / "out.txt", "x")
    with pytest.raises(OutputError, match="--output .* is a folder"):
        io.check_output_file(tmp_path / "folder", "--output")
    with pytest.raises(OutputError, match="is a file, not a folder"):
        io.check_output_file(tmp_path / "file" / "deeper" / "out.csv", "--output")
    io.write_text_atomic(tmp_path / "new" / "deeper" / "out.txt", "x")  # missing folders are created
    assert (tmp_path / "new" / "deeper" / "out.txt").read_text() == "x"
