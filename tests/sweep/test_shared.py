"""Several ablate workers sharing one sweep through a study database: SQLite and a real PostgreSQL server.

Every run is trained exactly once, by whichever worker takes it, the results equal one worker's, and a killed
worker's run is finished by another.
"""

from __future__ import annotations

import csv
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest

from mmfusion.errors import MMFusionError
from mmfusion.sweep.runner import run_sweep
from mmfusion.sweep.storage import StorageError, open_storage, open_study

from ..conftest import write_spec, xor_spec

SWEEP = """\
base: base.yaml
seeds: [0, 1]
baselines: false
variants:
  - name: Concat
  - name: Gated
    set: {model.fusion: {type: gated, dim: 16}}
report: {resamples: 0}
"""
COLUMNS = ("variant", "seed", "accuracy", "macro_f1", "accuracy_without_image", "accuracy_without_text")


@pytest.fixture
def sweep_dir(xor_data: Path, tiny_bert: Path, feature_cache: Path, tmp_path: Path) -> Path:
    # one thread: the same arithmetic whatever the other workers do to the load
    xor_spec(tmp_path, xor_data, tiny_bert, feature_cache, epochs=3, name="base.yaml", extra="  threads: 1\n")
    write_spec(tmp_path, SWEEP, "sweep.yaml")
    return tmp_path


@pytest.fixture(scope="module")
def alone(xor_data: Path, tiny_bert: Path, feature_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sweep's results table as one worker without a storage writes it (the same files as ``sweep_dir``)."""
    folder = tmp_path_factory.mktemp("alone")
    xor_spec(folder, xor_data, tiny_bert, feature_cache, epochs=3, name="base.yaml", extra="  threads: 1\n")
    write_spec(folder, SWEEP, "sweep.yaml")
    return run_sweep(folder / "sweep.yaml", folder / "out", progress=False).out_dir


def _worker(folder: Path, out: Path, storage: str, heartbeat: int = 5) -> subprocess.Popen:
    env = {**os.environ, "MMFUSION_DISABLE_PLUGIN_AUTOLOAD": "1"}
    return subprocess.Popen([sys.executable, "-m", "mmfusion", "ablate", str(folder / "sweep.yaml"), "--out", str(out),
                             "--storage", storage, "--heartbeat", str(heartbeat), "--quiet"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _table(out: Path) -> list[tuple[str, ...]]:
    return [tuple(row[c] for c in COLUMNS) for row in csv.DictReader((out / "results.csv").open())]


def _runs(storage: str, name: str = "ablate-sweep") -> list[optuna.trial.FrozenTrial]:
    return [t for t in optuna.load_study(study_name=name, storage=storage).trials if not t.user_attrs.get("spare")]


def _share(folder: Path, out: Path, storage: str, workers: int) -> list[str]:
    processes = [_worker(folder, out, storage) for _ in range(workers)]
    logs = [p.communicate(timeout=600)[0] for p in processes]
    assert [p.returncode for p in processes] == [0] * workers, logs
    return logs


def _assert_each_run_once(storage: str, out: Path) -> None:
    runs = _runs(storage)
    assert sorted(t.user_attrs["run"] for t in runs) == ["concat/seed-0", "concat/seed-1", "gated/seed-0",
                                                         "gated/seed-1"]
    assert all(t.state.name == "COMPLETE" for t in runs)
    for run_dir in (out / "runs").glob("*/seed-*"):  # trained once: three epochs, no epoch repeated
        epochs = [row["epoch"] for row in csv.DictReader((run_dir / "metrics.csv").open())]
        assert epochs == ["1", "2", "3"], run_dir


@pytest.mark.slow
@pytest.mark.parametrize("workers", [2, 3])
def test_workers_on_one_sqlite_file_train_each_run_once_with_one_workers_results(sweep_dir: Path, alone: Path,
                                                                                 workers: int) -> None:
    storage = f"sqlite:///{sweep_dir / 'shared.db'}"
    _share(sweep_dir, sweep_dir / "shared", storage, workers)
    _assert_each_run_once(storage, sweep_dir / "shared")
    assert _table(sweep_dir / "shared") == _table(alone)
    assert (sweep_dir / "shared" / "best_spec.yaml").is_file() and (sweep_dir / "shared" / "results.md").is_file()


@pytest.mark.slow
def test_a_killed_workers_run_is_finished_by_another(sweep_dir: Path) -> None:
    storage = f"sqlite:///{sweep_dir / 'shared.db'}"
    out = sweep_dir / "shared"
    xor_spec(sweep_dir, *_spec_paths(sweep_dir), epochs=10, name="base.yaml", extra="  threads: 1\n")
    first = _worker(sweep_dir, out, storage, heartbeat=2)
    deadline = time.monotonic() + 300
    while not list(out.glob("runs/*/seed-*/checkpoints/last.json")) and time.monotonic() < deadline:
        assert first.poll() is None, first.stdout.read() if first.stdout else ""
        time.sleep(0.2)
    first.send_signal(signal.SIGKILL)
    first.wait()
    killed = {t.user_attrs["run"] for t in _runs(storage) if t.state.name == "RUNNING"}
    assert len(killed) == 1
    with pytest.warns(UserWarning, match="took over the lock"):
        result = run_sweep(sweep_dir / "sweep.yaml", out, progress=False, storage=storage, heartbeat=2)
    assert len(result.records) == 4
    runs = _runs(storage)
    retried = [t for t in runs if t.user_attrs["run"] in killed]
    assert [t.state.name for t in retried] == ["FAIL", "COMPLETE"]  # failed by its heartbeat, run again
    assert sum(t.state.name == "COMPLETE" for t in runs) == 4


def _spec_paths(folder: Path) -> tuple[Path, Path, Path]:
    text = (folder / "base.yaml").read_text()
    return (Path(text.split("train: ", 1)[1].split("}", 1)[0]), Path(text.split("path: ", 1)[1].split(",", 1)[0]),
            Path(text.split("cache_dir: ", 1)[1].splitlines()[0].strip()))


# ----- a real PostgreSQL server, started for these tests ----------------------------------------------------------

def _postgres_binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL server on 127.0.0.1, in a folder of its own, stopped after the module's tests."""
    initdb, pg_ctl = _postgres_binary("initdb"), _postgres_binary("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("the PostgreSQL server is not installed (apt-get install postgresql; .ci/run installs it)")
    folder = Path(tempfile.mkdtemp(prefix="mmfusion-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # the server refuses to run as root
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(folder, "postgres")
    folder.chmod(0o755)
    data, port = folder / "data", _free_port()
    subprocess.run([*as_user, initdb, "-D", str(data), "-A", "trust", "-U", "mmfusion"], check=True,
                   capture_output=True)
    subprocess.run([*as_user, pg_ctl, "-D", str(data), "-l", str(folder / "server.log"), "-w", "-o",
                    f"-p {port} -k {folder} -c listen_addresses=127.0.0.1", "start"], check=True, capture_output=True)
    try:
        yield f"postgresql://mmfusion@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.slow
def test_two_workers_share_a_sweep_on_a_postgresql_server(sweep_dir: Path, alone: Path, postgres_url: str) -> None:
    _share(sweep_dir, sweep_dir / "shared", postgres_url, 2)
    _assert_each_run_once(postgres_url, sweep_dir / "shared")
    assert _table(sweep_dir / "shared") == _table(alone)


def test_an_edited_sweep_is_refused_by_its_study(postgres_url: str) -> None:
    storage = open_storage(postgres_url, heartbeat=5)
    open_study(storage, "edited", kind="ablate", digest="a", source="sweep.yaml")
    with pytest.raises(StorageError, match="made from sweep.yaml with other settings"):
        open_study(storage, "edited", kind="ablate", digest="b", source="sweep.yaml")
    with pytest.raises(StorageError, match="is a ablate study, not a tune"):
        open_study(storage, "edited", kind="tune", digest="a", source="tune.yaml")


# ----- errors -----------------------------------------------------------------------------------------------------

def test_an_unreachable_database_is_a_clear_error_without_its_password() -> None:
    url = f"postgresql://me:secret@127.0.0.1:{_free_port()}/db"
    with pytest.raises(StorageError, match=r"cannot open the study storage postgresql://me:\*\*\*@127.0.0.1") as info:
        open_storage(url, heartbeat=5)
    assert "secret" not in str(info.value)


def test_a_malformed_url_is_a_clear_error_without_its_password() -> None:
    with pytest.raises(StorageError, match=r"cannot open the study storage nonsense://me:\*\*\*@x") as info:
        open_storage("nonsense://me:secret@x")
    assert "secret" not in str(info.value)


@pytest.mark.parametrize("url", ["postgresql://me:p@ss@127.0.0.1/db", "postgresql:/me:secret@host/db"])
def test_passwords_are_masked_in_odd_urls(url: str) -> None:
    from mmfusion.sweep.storage import masked

    assert "ss@" not in masked(url).split("***")[-1] and "secret" not in masked(url) and "***" in masked(url)


def test_a_sqlite_study_refuses_edited_files_another_kind_and_another_out(tmp_path: Path) -> None:
    storage = open_storage(f"sqlite:///{tmp_path / 'study.db'}", heartbeat=5)
    open_study(storage, "s", kind="tune", digest="a", source="tune.yaml", out_dir=tmp_path / "out")
    with pytest.raises(StorageError, match="made from tune.yaml with other settings"):
        open_study(storage, "s", kind="tune", digest="b", source="tune.yaml", out_dir=tmp_path / "out")
    with pytest.raises(StorageError, match="is a tune study, not a ablate"):
        open_study(storage, "s", kind="ablate", digest="a", source="sweep.yaml", out_dir=tmp_path / "out")
    with pytest.raises(StorageError, match="keeps its runs in .*out, not in .*elsewhere"):
        open_study(storage, "s", kind="tune", digest="a", source="tune.yaml", out_dir=tmp_path / "elsewhere")
    study, created = open_study(storage, "s", kind="tune", digest="a", source="tune.yaml", out_dir=tmp_path / "out")
    assert not created and study.study_name == "s"


def test_of_two_trials_holding_one_run_exactly_one_runs_it() -> None:
    from mmfusion.sweep.trials import RUN_ATTR, counts, held_elsewhere

    study = optuna.create_study()
    first, second = study.ask(), study.ask()
    for trial in (first, second):
        trial.set_user_attr(RUN_ATTR, "concat/seed-0")
    assert [held_elsewhere(study, t) for t in (first, second)] == [False, True]
    third = study.ask()
    assert counts(study, before=third.number)["claimed"] == 2 and counts(study)["claimed"] == 3
    study.tell(first, 0.5)
    assert held_elsewhere(study, third) is False  # another run
    third.set_user_attr(RUN_ATTR, "concat/seed-0")
    assert held_elsewhere(study, third)  # its run is complete


def test_a_restart_queues_an_interrupted_run_again_but_not_a_finished_one() -> None:
    from mmfusion.sweep.trials import ERROR, RUN_ATTR, requeue_interrupted

    study = optuna.create_study()
    for run, state in (("a", "fail"), ("b", "fail"), ("c", "complete"), ("d", "fail")):
        trial = study.ask()
        trial.set_user_attr(RUN_ATTR, run)
        if run == "d":
            trial.set_user_attr(ERROR, "bad data")
        study.tell(trial, 1.0 if state == "complete" else None, state=getattr(optuna.trial.TrialState,
                                                                               state.upper()))
    again = study.ask()
    again.set_user_attr(RUN_ATTR, "b")  # b is running again already
    assert requeue_interrupted(study) == ["a"]
    assert requeue_interrupted(study, failed_too=True) == ["d"]  # a is waiting now


def test_the_study_option_needs_a_storage(sweep_dir: Path) -> None:
    from click.testing import CliRunner

    from mmfusion.cli import cli

    result = CliRunner().invoke(cli, ["ablate", str(sweep_dir / "sweep.yaml"), "--study", "x"])
    assert result.exit_code == 2 and "give --storage too" in result.output
    result = CliRunner().invoke(cli, ["ablate", str(sweep_dir / "sweep.yaml"), "--heartbeat", "5"])
    assert result.exit_code == 2 and "give --storage too" in result.output


def test_a_sweep_whose_runs_failed_elsewhere_says_so(tmp_path: Path) -> None:
    from mmfusion.sweep.runner import _shared_records

    with pytest.raises(MMFusionError, match="(?s)1 run.*concat/seed-0.*run the command again"):
        _shared_records(tmp_path, {("Concat", 0): None})  # type: ignore[dict-item]
