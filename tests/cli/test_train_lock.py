"""Two ``mmfusion train`` commands into one run directory: the second stops at once, the first is unharmed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ..conftest import xor_spec

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def live_spec(tmp_path_factory: pytest.TempPathFactory, tiny_bert: Path) -> Path:
    """Encoders trained end to end: the first command trains for a while after taking the lock."""
    from mmfusion.testing.data import make_xor_dataset

    folder = tmp_path_factory.mktemp("lock-cli")
    csv = make_xor_dataset(folder / "data", n=120)
    return xor_spec(folder, csv, tiny_bert, folder / "cache", epochs=3, freeze=False)


def _train(spec: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "mmfusion", "train", str(spec), "--out", str(out), "--quiet", *extra]


def _start_and_wait_for_lock(spec: Path, run: Path) -> subprocess.Popen:
    # SIGINT at its default in the child: a test run started in the background inherits it ignored
    first = subprocess.Popen(_train(spec, run), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "OMP_NUM_THREADS": "1"},
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while not (run / ".lock").exists():
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline, "the first training never took the lock"
        time.sleep(0.05)
    return first


def test_a_second_train_into_the_same_run_directory_stops_at_once(live_spec: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    first = _start_and_wait_for_lock(live_spec, run)
    try:
        holder = json.loads((run / ".lock").read_text())
        assert holder["pid"] == first.pid and holder["command"].startswith("mmfusion train")
        for extra in ((), ("--resume",)):
            second = subprocess.run(_train(live_spec, run, *extra), capture_output=True, text=True, timeout=120)
            assert first.poll() is None, "the first training ended before the second was checked"
            assert second.returncode == 2, second.stderr
            assert "Traceback" not in second.stderr and "internal error" not in second.stderr
            assert f"run directory {run} is in use" in second.stderr and f"process {first.pid}" in second.stderr
        out, err = first.communicate(timeout=600)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == 0, err
    assert "warning" not in err.lower()
    assert json.loads((run / "summary.json").read_text())["epochs_run"] == 3
    assert (run / "weights.safetensors").is_file() and not (run / ".lock").exists()


def test_ctrl_c_releases_the_lock(live_spec: Path, tmp_path: Path) -> None:
    # many epochs: on an idle machine the 3-epoch spec can finish before the signal arrives
    long_spec = live_spec.with_name("long.yaml")
    long_spec.write_text(live_spec.read_text().replace("epochs: 3", "epochs: 500"))
    run = tmp_path / "run"
    first = _start_and_wait_for_lock(long_spec, run)
    assert first.poll() is None
    first.send_signal(signal.SIGINT)
    _, err = first.communicate(timeout=120)
    assert first.returncode == 130, err
    assert "Traceback" not in err and not (run / ".lock").exists()
