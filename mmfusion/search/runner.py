"""``mmfusion tune``: an Optuna study over a spec's settings, each trial a run folder of its own.

Optuna samples each trial's values (TPE by default), prunes trials whose validation metric falls behind, and keeps
the study in a database: an SQLite file in the output folder unless ``--storage`` names another, so running the
command again continues the study, and several workers pointed at one storage share it. A worker that dies leaves
its trial to be run again by the next worker (heartbeats); the retry resumes the same run folder from its last
finished epoch.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import MMFusionError, SpecError
from ..progress import Reporter
from ..registry import Registry
from ..run.files import read_summary
from ..run.layout import RunPaths
from ..spec.loader import load_spec
from ..spec.spec import Spec
from ..sweep.spec import slug
from ..sweep.storage import DEFAULT_HEARTBEAT, default_url, masked, open_storage, open_study, require_optuna
from ..sweep.trials import ERROR, RUN_ATTR, SPARE, counts, held_elsewhere, is_spare, requeue_interrupted, wait_for_work
from ..tasks.definitions import DEFAULT_MONITOR, monitors
from .pruning import PRUNED_AT, ReportToTrial
from .space import TuneSpec, load_tune, trial_spec


@dataclass
class TuneResult:
    """Where the study's outputs are, the best trial's number, value and values, and every trial's row."""

    out_dir: Path
    study_name: str
    storage: str
    metric: str
    direction: str
    best_trial: int | None
    best_value: float | None
    best_params: dict[str, Any]
    rows: list[dict[str, Any]]
    files: dict[str, str] = field(default_factory=dict)
    wall_seconds: float = 0.0


def tune(tune_file: str | Path, out: str | Path | None = None, *, storage: str | None = None,
         study_name: str | None = None, device: str = "auto", progress: bool = True, heartbeat: int = DEFAULT_HEARTBEAT,
         timeout: float | None = None, registry: Registry | None = None) -> TuneResult:
    """Run (or join, or continue) the study of ``tune_file`` until it has ``trials`` finished trials, then write
    trials.csv/md, best_spec.yaml, tune.json and Optuna's history/importance plots into ``out``.

    Raises:
        SpecError: the tune file, its space or its base spec is invalid (YAML path named).
        StorageError: the storage cannot be reached, or holds a study of that name made from other files.
    """
    from ..sweep.runner import SourceTables
    from .report import write_tune_reports

    started = time.perf_counter()
    optuna = require_optuna()
    reporter = Reporter(progress)
    tune_file = Path(tune_file)
    settings = load_tune(tune_file)
    base = load_spec(settings.base, registry=registry)
    if base.data is None:
        raise SpecError(f"the base spec {settings.base} has no data section; tuning needs data to train on")
    tables = SourceTables(registry)
    prepared = tables(base.data)
    if "validation" not in prepared.tables:
        raise SpecError(f"the base spec {settings.base} has no validation data (data.source validation table or "
                        "data.split.validation); trials are compared and pruned on validation metrics")
    metric = settings.metric or base.train.monitor or DEFAULT_MONITOR[prepared.task]
    if metric not in monitors(prepared.task):
        raise SpecError(f"{tune_file}: metric: {metric} is not a validation metric of {prepared.task} data; choose "
                        f"one of {', '.join(monitors(prepared.task))}")
    check_space(base, settings, tune_file, metric, registry)
    direction = "minimize" if metric == "val_loss" else "maximize"
    out_dir = Path(out) if out else Path("runs") / f"tune-{slug(tune_file.stem)}"
    url = storage or default_url(out_dir)
    name = study_name or f"tune-{slug(tune_file.stem)}"
    trials = settings.trials
    if settings.sampler.type == "grid":  # a grid has so many points; more trials would repeat them
        points = math.prod(len(values) for values in grid_space(settings).values())
        if points < trials:
            reporter.log(f"the grid has {points} points: the study stops after {points} trials, not {trials}")
            trials = points
    study, created = open_study(open_storage(url, heartbeat=heartbeat), name, kind="tune",
                                digest=tune_digest(base, settings, metric), source=str(tune_file), out_dir=out_dir,
                                direction=direction, sampler=make_sampler(settings), pruner=make_pruner(settings))
    if not created and settings.sampler.type != "grid":
        # a worker joining a study (another worker's, or an earlier run's) must not draw the values the seed drew
        # there: it draws from a fresh seed (a grid keeps its seed, which numbers its points)
        study.sampler.reseed_rng()
    again = requeue_interrupted(study)
    folder = tune_file.resolve().parent
    deadline = None if timeout is None else time.monotonic() + timeout
    objective = _Objective(study, settings, trials, base, metric, out_dir, folder, tables, device, registry,
                           reporter, poll=max(1.0, heartbeat / 2), deadline=deadline)
    done = counts(study)["finished"]
    reporter.log(f"study '{name}' in {masked(url)}: {done} of {trials} trials finished"
                 + (f", {len(again)} interrupted trial(s) queued again" if again else "")
                 + f"; optimising {metric} ({direction})")
    if done < trials:
        with reporter.task("trials", trials) as advance:
            advance(done)
            objective.advance = advance
            while True:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                study.optimize(objective, timeout=left, catch=(), gc_after_trial=True)
                # a sampler may stop the study (the grid is used up) while a dead worker's trial waits to run again
                if counts(study)["finished"] >= trials or not _waiting(study):
                    break
    files, rows = write_tune_reports(study, out_dir, metric, settings, base, folder, registry, tune_file, url, trials)
    best = _best(study, optuna)
    reporter.log(f"best: trial {best.number} {metric} {best.value:.4f} with " +
                 ", ".join(f"{k}={v}" for k, v in best.params.items()) if best else "no trial has finished yet")
    return TuneResult(out_dir, name, masked(url), metric, direction, best.number if best else None,
                      best.value if best else None, dict(best.params) if best else {}, rows, files,
                      time.perf_counter() - started)


def _waiting(study: Any) -> bool:
    state = require_optuna().trial.TrialState
    return bool(study.get_trials(deepcopy=False, states=(state.WAITING,)))


def _best(study: Any, optuna: Any) -> Any:
    complete = [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))]
    if not complete:
        return None
    return study.best_trial


class _Objective:
    """One trial: its values set into the base spec, trained with pruning, its validation metric returned."""

    def __init__(self, study: Any, settings: TuneSpec, trials: int, base: Spec, metric: str, out_dir: Path,
                 folder: Path, tables: Any, device: str, registry: Registry | None, reporter: Reporter, *,
                 poll: float, deadline: float | None) -> None:
        self.study, self.settings, self.trials, self.base, self.metric = study, settings, trials, base, metric
        self.out_dir, self.folder, self.tables, self.device = out_dir, folder, tables, device
        self.registry, self.reporter, self.poll, self.deadline = registry, reporter, poll, deadline
        self.advance: Any = lambda n=1, info="": None

    def _spare(self, trial: Any, watch: bool) -> None:
        """End this trial as one that did no work; ``watch``: first wait while the others train, taking over a
        trial whose worker dies, and stop when none is left."""
        optuna = require_optuna()
        trial.set_user_attr(SPARE, True)
        if watch and not wait_for_work(self.study, trial.number, poll=self.poll, deadline=self.deadline):
            self.study.stop()
        raise optuna.TrialPruned()

    def __call__(self, trial: Any) -> float:
        optuna = require_optuna()
        retry = RUN_ATTR in trial.user_attrs  # a dead or interrupted worker's trial, run again with its values
        if is_spare(trial) or (retry and held_elsewhere(self.study, trial)):
            self._spare(trial, watch=False)  # a copy of a spare, or a run another worker already holds
        if not retry and counts(self.study, before=trial.number)["claimed"] >= self.trials:
            self._spare(trial, watch=True)  # other workers hold the last trials
        number = trial.user_attrs.get(RUN_ATTR, trial.number)
        trial.set_user_attr(RUN_ATTR, number)
        values = {key: parameter.suggest(trial, key) for key, parameter in self.settings.space.items()}
        run_dir = self.out_dir / "trials" / f"trial-{number:03d}"
        trial.set_user_attr("run_dir", str(run_dir))
        shown = ", ".join(f"{k}={_short(v)}" for k, v in values.items())
        again = f" (trial {number} again)" if retry else ""
        self.reporter.log(f"trial {trial.number}{again}: {shown} → {run_dir}")
        try:
            spec = trial_spec(self.base, values, self.metric, self.settings.seed, self.folder, self.registry,
                              f"trial {trial.number}", self.settings.space)
            value, pruned = self._fit(trial, spec, run_dir, "its worker's heartbeat stopped" if retry else None)
        except MMFusionError as exc:  # these values cannot be built or trained; the study goes on without them
            return self._failed(trial, str(exc))
        if math.isnan(value):
            return self._failed(trial, f"{self.metric} is not a number: the training diverged")
        self._finish()
        if pruned:
            raise optuna.TrialPruned()
        return value

    def _failed(self, trial: Any, reason: str) -> float:
        trial.set_user_attr(ERROR, reason)
        self.reporter.warn(f"trial {trial.number} failed: {reason}")
        self._finish()
        return math.nan

    def _fit(self, trial: Any, spec: Spec, run_dir: Path, lock_holder_gone: str | None) -> tuple[float, bool]:
        from ..training.trainer import Trainer

        paths = RunPaths(run_dir)
        if paths.summary.exists():  # trained before its worker died, not yet told to the study
            summary = read_summary(paths.summary)
            test = summary.get("test") if isinstance(summary.get("test"), dict) else {}
            _set_attrs(trial, {"epochs": summary.get("epochs_run"), "best_epoch": summary.get("best_epoch"),
                               "train_seconds": summary.get("train_seconds"), "test": _numbers(test)})
            best = summary.get("best_metric")
            return (float(best) if isinstance(best, (int, float)) else math.nan), PRUNED_AT in trial.user_attrs

        def show(row: dict[str, Any]) -> None:
            self.advance(0, f"trial {trial.number} epoch {row['epoch']} {self.metric} {row[self.metric]:.4f}")

        reporting = ReportToTrial(trial, self.metric, on_epoch=show)
        result = Trainer(spec, run_dir, device=self.device, resume=paths.last_checkpoint.exists(), progress=False,
                         tables=self.tables(spec.data), registry=self.registry, callbacks=[reporting],
                         lock_holder_gone=lock_holder_gone).fit()
        if result.best_metric is None:
            raise MMFusionError(f"trial {trial.number} trained without a validation metric {self.metric}")
        test = result.test_metrics or {}
        _set_attrs(trial, {"epochs": len(result.history), "best_epoch": result.best_epoch,
                           "train_seconds": result.summary.get("train_seconds"), "test": _numbers(test)})
        pruned = reporting.pruned_at is not None or PRUNED_AT in trial.user_attrs  # also before a resume
        verdict = f"pruned after epoch {trial.user_attrs.get(PRUNED_AT)}" if pruned else "done"
        self.reporter.log(f"    trial {trial.number} {verdict}: {self.metric} {result.best_metric:.4f} "
                          f"(epoch {result.best_epoch})")
        return float(result.best_metric), pruned

    def _finish(self) -> None:
        self.advance(1)
        if counts(self.study)["finished"] + 1 >= self.trials:  # this trial is told after we return
            self.study.stop()


def _numbers(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def _set_attrs(trial: Any, attrs: dict[str, Any]) -> None:
    for key, value in attrs.items():
        trial.set_user_attr(key, value)


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def check_space(base: Spec, settings: TuneSpec, tune_file: Path, metric: str, registry: Registry | None) -> None:
    """Every value at the edge of the space (each bound, each choice) must give a valid spec, and a model that
    builds where it sets a ``model.`` key, checked before any trial trains, so that a misspelt key or an
    impossible value fails now, not in trial 14.

    Raises:
        SpecError: naming ``space.<key>`` and the value.
    """
    from ..sweep.variants import check_variants_build

    folder = tune_file.resolve().parent
    for key, parameter in settings.space.items():
        for value in parameter.extremes():
            where = f"{tune_file}: space.{key}"
            try:
                spec = trial_spec(base, {key: value}, metric, settings.seed, folder, registry, where, settings.space)
                if key.startswith("model"):
                    check_variants_build({f"{key}={_short(value)}": spec}, registry)
            except SpecError as exc:
                raise SpecError(f"{where}: the value {_short(value)} gives an invalid spec:\n  {exc}") from None


def tune_digest(base: Spec, settings: TuneSpec, metric: str) -> str:
    """What makes a study the same experiment: the base spec, the space, the metric and the seed (not the number
    of trials, which may grow, nor the sampler and pruner, which only steer the search)."""
    what = {"base": base.model_dump(mode="json"), "space": {k: p.model_dump(mode="json")
            for k, p in settings.space.items()}, "metric": metric, "seed": settings.seed}
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()


def make_sampler(settings: TuneSpec, offset: int = 0) -> Any:
    """The tune file's sampler; ``offset`` moves the seed for a worker joining a study that already has that many
    trials, so that it does not draw the values the first worker drew."""
    optuna = require_optuna()
    sampler = settings.sampler
    if sampler.type == "grid":  # the seed shuffles the grid, whose point numbers every worker must share
        return optuna.samplers.GridSampler(grid_space(settings), seed=sampler.seed)
    seed = None if sampler.seed is None else sampler.seed + offset
    if sampler.type == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=sampler.startup_trials)


def grid_space(settings: TuneSpec) -> dict[str, list[Any]]:
    """Every value of every parameter, for the grid sampler: choices, and ranges with a step.

    Raises:
        SpecError: a real range without a step (it has no finite grid).
    """
    from .space import Choices, FloatRange, choice_label

    grid: dict[str, list[Any]] = {}
    for key, p in settings.space.items():
        if isinstance(p, Choices):
            grid[key] = [choice_label(c) for c in p.choices]
        elif isinstance(p, FloatRange):
            if p.step is None:
                raise SpecError(f"space.{key}: sampler grid needs a step for a real range (or use choices)")
            count = math.floor((p.high - p.low) / p.step + 1e-9)  # never past high
            grid[key] = [p.low + i * p.step for i in range(count + 1)]
        else:
            grid[key] = list(range(p.low, p.high + 1, p.step))
    return grid


def make_pruner(settings: TuneSpec) -> Any:
    optuna = require_optuna()
    pruner = settings.pruner
    if pruner.type == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=pruner.startup_trials, n_warmup_steps=pruner.warmup_epochs)
    if pruner.type == "asha":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=pruner.min_epochs,
                                                      reduction_factor=pruner.reduction_factor)
    return optuna.pruners.NopPruner()
