"""The trainer holds the run directory's lock for the whole of training, and only then."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mmfusion.errors import MMFusionError
from mmfusion.run.errors import RunDirError
from mmfusion.run.lock import LOCK_NAME
from mmfusion.spec import load_spec
from mmfusion.training.trainer import Trainer, TrainingInterrupted

from ..conftest import xor_spec
from .interrupt import StopAfterEpochs


@pytest.fixture
def spec(xor_data: Path, tiny_bert: Path, feature_cache: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    return load_spec(xor_spec(tmp_path, xor_data, tiny_bert, feature_cache, epochs=2))


def _lock_by(run: Path, pid: int) -> Path:
    run.mkdir(parents=True, exist_ok=True)
    path = run / LOCK_NAME
    path.write_text(json.dumps({"host": socket.gethostname(), "pid": pid, "command": "mmfusion train other.yaml"}))
    return path


def test_a_held_run_directory_fails_at_once_for_train_and_resume(spec, tmp_path: Path) -> None:  # type: ignore
    import os

    run = tmp_path / "run"
    lock = _lock_by(run, os.getpid())  # a live process: as if another training held it
    for resume in (False, True):
        started = time.monotonic()
        with pytest.raises(RunDirError) as caught:
            Trainer(spec, run, progress=False, resume=resume).fit()
        assert time.monotonic() - started < 2.0  # before loading data or building the model
        message = str(caught.value)
        assert str(run) in message and f"process {os.getpid()} on host {socket.gethostname()}" in message
        assert "mmfusion train other.yaml" in message
    assert sorted(p.name for p in run.iterdir()) == [LOCK_NAME]  # nothing written, the other's lock kept
    assert json.loads(lock.read_text())["pid"] == os.getpid()


@pytest.mark.slow
def test_a_stale_lock_is_taken_over_and_every_fit_releases_the_lock(spec, tmp_path: Path) -> None:  # type: ignore
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(done.stdout)
    run = tmp_path / "run"
    _lock_by(run, dead)  # a training that was killed
    with pytest.warns(UserWarning, match=f"took over the lock {run / LOCK_NAME}.*process {dead}"), \
            pytest.raises(TrainingInterrupted):
        Trainer(spec, run, progress=False, callbacks=[StopAfterEpochs(1)]).fit()
    assert not (run / LOCK_NAME).exists()  # released when training stops with an error
    result = Trainer(spec, run, progress=False, resume=True).fit()
    assert result.summary["epochs_run"] == 2
    assert not (run / LOCK_NAME).exists()  # and after a normal fit
    with pytest.raises(MMFusionError, match="already holds a run"):
        Trainer(spec, run, progress=False).fit()
    assert not (run / LOCK_NAME).exists()


def test_resume_of_a_missing_run_directory_does_not_create_it(spec, tmp_path: Path) -> None:  # type: ignore
    with pytest.raises(MMFusionError, match="nothing to resume"):
        Trainer(spec, tmp_path / "nowhere", progress=False, resume=True).fit()
    assert not (tmp_path / "nowhere").exists()


@pytest.mark.slow
def test_under_torchrun_a_held_run_directory_stops_every_process(xor_data: Path, tiny_bert: Path,
                                                                 feature_cache: Path, tmp_path: Path) -> None:
    import os

    run = tmp_path / "run"
    _lock_by(run, os.getpid())
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m",
               "mmfusion", "train", str(xor_spec(tmp_path, xor_data, tiny_bert, feature_cache, epochs=1)),
               "--out", str(run), "--quiet"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode != 0
    assert f"run directory {run} is in use" in done.stderr and "internal error" not in done.stderr
    assert sorted(p.name for p in run.iterdir()) == [LOCK_NAME]  # neither process wrote anything
