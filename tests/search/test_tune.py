"""mmfusion tune: a search that finds the setting that trains, pruning, resuming, workers sharing a study, and
errors that name the tune file's YAML path."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from click.testing import CliRunner

from mmfusion.cli import cli
from mmfusion.errors import SpecError
from mmfusion.search.runner import tune
from mmfusion.search.space import load_tune
from mmfusion.spec import load_spec

from ..conftest import write_spec, xor_spec

TUNE = """\
base: base.yaml
trials: {trials}
metric: val_accuracy
sampler: {{type: grid, seed: {seed}}}
pruner: {{type: {pruner}, warmup_epochs: 1, startup_trials: 1}}
space:
  train.lr: {{choices: {lrs}}}
"""


@pytest.fixture
def tune_dir(xor_data: Path, tiny_bert: Path, feature_cache: Path, tmp_path: Path) -> Path:
    xor_spec(tmp_path, xor_data, tiny_bert, feature_cache, epochs=8, name="base.yaml")
    return tmp_path


def _tune_file(folder: Path, trials: int = 2, pruner: str = "none", lrs: str = "[1.0e-6, 0.01]", seed: int = 0) -> Path:
    return write_spec(folder, TUNE.format(trials=trials, pruner=pruner, lrs=lrs, seed=seed), "tune.yaml")


def _study(out: Path, name: str = "tune-tune") -> optuna.Study:
    return optuna.load_study(study_name=name, storage=f"sqlite:///{out / 'study.db'}")


@pytest.mark.slow
def test_tune_finds_the_learning_rate_that_trains_and_writes_its_outputs(tune_dir: Path) -> None:
    out = tune_dir / "out"
    result = tune(_tune_file(tune_dir), out, progress=False)
    assert result.best_params == {"train.lr": 0.01}
    by_lr = {row["train.lr"]: row for row in result.rows}
    assert by_lr[0.01]["value"] > 0.85 and by_lr[1e-6]["value"] < 0.6  # XOR: only a model that learns beats 0.5
    assert by_lr[0.01]["value"] == result.best_value and by_lr[0.01]["epochs"] == 8
    for name in ("trials.csv", "trials.md", "best_spec.yaml", "tune.json", "history.png", "importance.png",
                 "epochs.png", "study.db"):
        assert (out / name).is_file(), name
    rows = list(csv.DictReader((out / "trials.csv").open()))
    assert [r["state"] for r in rows] == ["complete", "complete"] and "test_accuracy" in rows[0]
    best = load_spec(out / "best_spec.yaml")  # trains as it is
    assert best.train.lr == 0.01 and best.train.monitor == "val_accuracy"
    summary = json.loads((out / "tune.json").read_text())
    assert summary["best"]["values"] == {"train.lr": 0.01} and summary["finished"] == 2
    assert summary["storage"] == f"sqlite:///{(out / 'study.db').resolve()}"
    assert (out / "trials.md").read_text().splitlines()[4].startswith(f"| {result.best_trial} | complete | 0.9")
    # run again: the study is finished, nothing trains, the same best comes back
    again = tune(_tune_file(tune_dir), out, progress=False)
    assert again.best_trial == result.best_trial and len(_study(out).trials) == 2


@pytest.mark.slow
def test_a_trial_that_falls_behind_is_pruned(tune_dir: Path) -> None:
    out = tune_dir / "out"
    # grid seed 5 tries 0.01, 0.003, then 1e-6: the last one is behind the median of the two before it
    result = tune(_tune_file(tune_dir, trials=3, pruner="median", lrs="[0.01, 0.003, 1.0e-6]", seed=5), out,
                  progress=False)
    assert [row["train.lr"] for row in result.rows] == [0.01, 0.003, 1e-6]
    states = {row["train.lr"]: (row["state"], row["epochs"]) for row in result.rows}
    assert states[1e-6][0] == "pruned" and states[1e-6][1] < 8, states
    assert states[0.01][0] == "complete"


@pytest.mark.slow
def test_more_trials_continue_the_study_without_training_the_old_ones_again(tune_dir: Path) -> None:
    out = tune_dir / "out"
    tune(_tune_file(tune_dir, trials=1, lrs="[0.01, 0.003]"), out, progress=False)
    first = next((out / "trials").iterdir())
    stamp = (first / "weights.safetensors").stat().st_mtime_ns
    result = tune(_tune_file(tune_dir, trials=2, lrs="[0.01, 0.003]"), out, progress=False)
    assert len(result.rows) == 2 and {r["train.lr"] for r in result.rows} == {0.01, 0.003}
    assert (first / "weights.safetensors").stat().st_mtime_ns == stamp


def _worker(folder: Path, out: Path, heartbeat: int = 5) -> subprocess.Popen:
    env = {**os.environ, "MMFUSION_DISABLE_PLUGIN_AUTOLOAD": "1"}
    return subprocess.Popen([sys.executable, "-m", "mmfusion", "tune", str(folder / "tune.yaml"), "--out", str(out),
                             "--heartbeat", str(heartbeat), "--quiet"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


@pytest.mark.slow
def test_a_killed_workers_trial_is_finished_by_the_next_worker_from_its_last_epoch(tune_dir: Path) -> None:
    out = tune_dir / "out"
    _tune_file(tune_dir, trials=1, lrs="[0.01]")
    xor_spec(tune_dir, *_spec_args(tune_dir), epochs=30, name="base.yaml")  # long enough to be killed in training
    worker = _worker(tune_dir, out, heartbeat=2)
    checkpoint = out / "trials" / "trial-000" / "checkpoints" / "last.json"
    deadline = time.monotonic() + 300
    while not _epochs_done(out / "trials" / "trial-000") >= 2 and time.monotonic() < deadline:
        assert worker.poll() is None, worker.stdout.read() if worker.stdout else ""
        time.sleep(0.2)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    killed_at = _epochs_done(out / "trials" / "trial-000")
    assert killed_at >= 2, checkpoint
    with pytest.warns(UserWarning, match="took over the lock"):  # the killed training's lock is stale
        result = tune(tune_dir / "tune.yaml", out, progress=False, heartbeat=2)
    trials = [t for t in _study(out).trials if not t.user_attrs.get("spare")]
    assert [t.state.name for t in trials] == ["FAIL", "COMPLETE"]
    assert trials[1].user_attrs["run"] == 0  # the retry continued trial 0's folder
    history = list(csv.DictReader((out / "trials" / "trial-000" / "metrics.csv").open()))
    assert [int(r["epoch"]) for r in history] == list(range(1, 31))  # resumed: no epoch twice, none missing
    assert result.best_trial == trials[1].number and result.rows[-1]["epochs"] == 30


def _spec_args(folder: Path) -> tuple[Path, Path, Path]:
    text = (folder / "base.yaml").read_text()
    csv_path = text.split("train: ", 1)[1].split("}", 1)[0]
    bert = text.split("path: ", 1)[1].split(",", 1)[0]
    cache = text.split("cache_dir: ", 1)[1].strip()
    return Path(csv_path), Path(bert), Path(cache)


def _epochs_done(run_dir: Path) -> int:
    metrics = run_dir / "metrics.csv"
    if not metrics.exists():
        return 0
    return max(0, len(metrics.read_text().strip().splitlines()) - 1)


@pytest.mark.slow
def test_two_workers_share_the_trials_of_one_study_and_draw_different_values(tune_dir: Path) -> None:
    out = tune_dir / "out"
    write_spec(tune_dir, "base: base.yaml\ntrials: 3\nmetric: val_accuracy\npruner: {type: none}\n"
               "space:\n  train.lr: {type: float, low: 1.0e-3, high: 3.0e-2, log: true}\n", "tune.yaml")
    workers = [_worker(tune_dir, out) for _ in range(2)]
    logs = [w.communicate(timeout=600)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], logs
    trials = [t for t in _study(out).trials if not t.user_attrs.get("spare")]
    assert len(trials) == 3 and all(t.state.name == "COMPLETE" for t in trials)
    assert len({t.params["train.lr"] for t in trials}) == 3  # a joining worker's sampler draws its own values
    assert len(list((out / "trials").iterdir())) == 3
    assert json.loads((out / "tune.json").read_text())["finished"] == 3
    assert len((out / "trials.md").read_text().strip().splitlines()) == 4 + 3  # title, blank, header, rule


# ----- errors, before anything trains -----------------------------------------------------------------------------

def test_a_bad_range_names_its_yaml_path(tmp_path: Path) -> None:
    path = write_spec(tmp_path, "base: base.yaml\nspace:\n  train.lr: {type: float, low: 0.1, high: 0.01}\n",
                      "tune.yaml")
    write_spec(tmp_path, "model: {}\n", "base.yaml")
    with pytest.raises(SpecError, match=r"tune.yaml:3: space.train.lr.*low \(0.1\) must be below high"):
        load_tune(path)


def test_a_log_range_needs_a_positive_low(tmp_path: Path) -> None:
    write_spec(tmp_path, "model: {}\n", "base.yaml")
    path = write_spec(tmp_path, "base: base.yaml\nspace:\n  train.lr: {type: float, low: 0, high: 1, log: true}\n",
                      "tune.yaml")
    with pytest.raises(SpecError, match="a log scale needs low > 0"):
        load_tune(path)


def test_a_key_the_spec_does_not_have_fails_before_training(tune_dir: Path) -> None:
    write_spec(tune_dir, "base: base.yaml\nspace:\n  train.learning_rate: {type: float, low: 0.001, high: 0.1}\n",
               "tune.yaml")
    with pytest.raises(SpecError, match=r"space.train.learning_rate: the value 0.001 gives an invalid spec"):
        tune(tune_dir / "tune.yaml", tune_dir / "out", progress=False)
    assert not (tune_dir / "out" / "trials").exists()


def test_a_metric_of_another_task_is_refused(tune_dir: Path) -> None:
    write_spec(tune_dir, "base: base.yaml\nmetric: val_micro_f1\nspace:\n  train.lr: {choices: [0.1, 0.01]}\n",
               "tune.yaml")
    with pytest.raises(SpecError, match="val_micro_f1 is not a validation metric of multiclass data"):
        tune(tune_dir / "tune.yaml", tune_dir / "out", progress=False)


def test_grid_needs_steps_for_real_ranges(tune_dir: Path) -> None:
    write_spec(tune_dir, "base: base.yaml\nsampler: {type: grid}\nspace:\n  train.lr: {low: 0.001, high: 0.1}\n",
               "tune.yaml")
    with pytest.raises(SpecError, match="space.train.lr: sampler grid needs a step"):
        tune(tune_dir / "tune.yaml", tune_dir / "out", progress=False)


def test_the_cli_reports_errors_with_exit_2(tune_dir: Path) -> None:
    write_spec(tune_dir, "base: base.yaml\nspace: {}\n", "tune.yaml")
    result = CliRunner().invoke(cli, ["tune", str(tune_dir / "tune.yaml"), "--out", str(tune_dir / "out")])
    assert result.exit_code == 2 and "space" in result.output and "at least 1" in result.output


def test_a_search_can_choose_frozen_lora_or_full_fine_tuning_of_an_encoder(tune_dir: Path) -> None:
    from mmfusion.search.runner import check_space
    from mmfusion.search.space import trial_spec

    path = write_spec(tune_dir, """\
base: base.yaml
space:
  model.encoders.text:
    merge: true
    choices: [{freeze: true}, {freeze: false, peft: {type: lora, r: 4}}, {freeze: false}]
""", "tune.yaml")
    settings = load_tune(path)
    base = load_spec(tune_dir / "base.yaml")
    check_space(base, settings, path, "val_accuracy", None)  # every choice gives a valid spec
    lora = trial_spec(base, {"model.encoders.text": {"freeze": False, "peft": {"type": "lora", "r": 4}}},
                      "val_accuracy", None, tune_dir, None, "trial", settings.space)
    text = lora.model.encoders["text"]
    assert not text.freeze and text.peft.type == "lora" and text.peft.r == 4
    assert str(text.path) == str(base.model.encoders["text"].path)  # merged: the rest of the encoder is kept


def test_keys_inside_other_keys_are_refused(tmp_path: Path) -> None:
    write_spec(tmp_path, "model: {}\n", "base.yaml")
    path = write_spec(tmp_path, "base: base.yaml\nspace:\n  model.fusion: {choices: [{type: concat}]}\n"
                      "  model.fusion.dim: {type: int, low: 8, high: 16}\n", "tune.yaml")
    with pytest.raises(SpecError, match="'model.fusion.dim' lies inside 'model.fusion'"):
        load_tune(path)


def test_choices_of_different_types_are_distinct_and_a_stepped_grid_stays_inside_its_range(tmp_path: Path) -> None:
    from mmfusion.search.runner import grid_space

    write_spec(tmp_path, "model: {}\n", "base.yaml")
    path = write_spec(tmp_path, "base: base.yaml\nspace:\n  a: {choices: [1, true]}\n"
                      "  b: {type: float, low: 0.0, high: 0.5, step: 0.3}\n", "tune.yaml")
    assert grid_space(load_tune(path)) == {"a": [1, True], "b": [0.0, 0.3]}


def test_merge_needs_mappings(tmp_path: Path) -> None:
    path = write_spec(tmp_path, "base: base.yaml\nspace:\n  model.fusion: {merge: true, choices: [1, 2]}\n",
                      "tune.yaml")
    write_spec(tmp_path, "model: {}\n", "base.yaml")
    with pytest.raises(SpecError, match="every choice is a mapping"):
        load_tune(path)


def test_the_easy_vqa_tune_example_is_valid_at_every_edge_of_its_space() -> None:
    from mmfusion.search.runner import check_space

    from ..conftest import EXAMPLES

    path = EXAMPLES / "tune_easy_vqa.yaml"
    settings = load_tune(path)
    check_space(load_spec(settings.base), settings, path, "val_accuracy", None)
    assert set(settings.space) == {"train.lr", "model.head.dropout", "model.fusion"} and settings.trials == 12


def test_the_pictures_show_the_trials_the_importances_and_the_epochs() -> None:
    from mmfusion.search.report import epochs_figure, history_figure, importance_figure

    done = [{"trial": 0, "value": 0.7}, {"trial": 2, "value": 0.9}, {"trial": 3, "value": 0.8}]
    ax = history_figure(done, "val_accuracy").axes[0]
    assert ax.get_title() == "Optimisation history" and ax.get_ylabel() == "val_accuracy"
    assert list(ax.collections[0].get_offsets()[:, 1]) == [0.7, 0.9, 0.8]
    assert list(ax.lines[0].get_ydata()) == [0.7, 0.9, 0.9]  # the best so far
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["trial", "best so far"]
    ax = importance_figure({"train.lr": 0.8, "model.head.dropout": 0.2}, "val_accuracy").axes[0]
    assert [p.get_width() for p in ax.patches] == [0.2, 0.8] and ax.get_title() == "Parameter importances"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["model.head.dropout", "train.lr"]
    ax = epochs_figure([(0, "complete", [(1, 0.6), (2, 0.9)]), (1, "pruned", [(1, 0.5)])], "val_accuracy").axes[0]
    assert [line.get_linestyle() for line in ax.lines] == ["-", "--"] and ax.get_xlabel() == "epoch"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["trial 0 (complete)", "trial 1 (pruned)"]
