"""A sweep's runs shared by several workers through an Optuna study: one queued trial per variant × seed.

The first worker creates the study and queues every run as a waiting trial; Optuna's storage hands each waiting
trial to exactly one worker (``study.optimize`` pops it). A worker whose queue is empty keeps watching while
other workers still train: if one of them dies, its heartbeat stops, Optuna fails its trial and queues it again
(:class:`~optuna.storages.RetryHeartbeatStaleTrialCallback`), and the watcher takes it; the retry resumes the run
folder from its last finished epoch. No scheduler of ours: ordering, claiming and retrying are Optuna's.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..errors import MMFusionError
from ..progress import Reporter
from .storage import DEFAULT_HEARTBEAT, open_storage, open_study, require_optuna
from .trials import ERROR, RUN_ATTR, SPARE, held_elsewhere, is_spare, requeue_interrupted, wait_for_work


def run_shared(url: str, name: str, keys: Mapping[str, Any], run: Callable[[str, str, str | None], float], *,
               digest: str, source: str, out_dir: Path, reporter: Reporter,
               heartbeat: int = DEFAULT_HEARTBEAT) -> dict[str, str]:
    """Take runs from the study ``name`` at ``url`` (creating it with ``keys`` queued) until none is left.

    ``run(key, label, lock_holder_gone)`` trains and evaluates one run and returns its ranking metric (the trial's
    value); ``lock_holder_gone`` is set when the run's previous worker died (its lock may be taken over). A run
    that fails with an error of ours (bad data, say) is recorded with its reason and the worker goes on; running
    the command again retries it. Returns the failed runs' reasons.

    Raises:
        StorageError: the storage cannot be opened, or holds a study of that name made from other files.
    """
    optuna = require_optuna()
    from optuna.trial import TrialState, create_trial

    def queue(study: Any) -> None:
        study.add_trials([create_trial(state=TrialState.WAITING, user_attrs={RUN_ATTR: key},
                                       system_attrs={"fixed_params": {}}) for key in keys])

    storage = open_storage(url, heartbeat=heartbeat)
    study, created = open_study(storage, name, kind="ablate", digest=digest, source=source, out_dir=out_dir,
                                on_create=queue)
    again = requeue_interrupted(study, failed_too=True)
    reporter.log(f"{'created' if created else 'joined'} the shared sweep '{name}' ({len(keys)} runs"
                 + (f"; {len(again)} unfinished run(s) queued again" if again else "") + ")")
    total = len(keys)

    def objective(trial: Any) -> float:
        key = trial.user_attrs.get(RUN_ATTR)
        if key is None or is_spare(trial):  # the queue was empty when this worker asked: watch the others, then stop
            trial.set_user_attr(SPARE, True)
            if not wait_for_work(study, trial.number, poll=max(1.0, heartbeat / 2)):
                study.stop()
            raise optuna.TrialPruned()
        if held_elsewhere(study, trial):  # queued twice by workers that started together: the other one runs it
            trial.set_user_attr(SPARE, True)
            raise optuna.TrialPruned()
        gone = "its worker's heartbeat stopped" if _retried(study, key) else None
        try:
            return run(key, f"{_done(study) + 1}/{total} {key}", gone)
        except MMFusionError as exc:
            trial.set_user_attr(ERROR, str(exc))
            reporter.warn(f"run {key} failed: {exc}")
            return math.nan

    study.optimize(objective, catch=(), gc_after_trial=True)
    return {t.user_attrs[RUN_ATTR]: t.user_attrs[ERROR] for t in study.get_trials(deepcopy=False)
            if ERROR in t.user_attrs and RUN_ATTR in t.user_attrs and not _done_run(study, t.user_attrs[RUN_ATTR])}


def _retried(study: Any, key: str) -> bool:
    state = require_optuna().trial.TrialState
    return any(t.user_attrs.get(RUN_ATTR) == key for t in study.get_trials(deepcopy=False, states=(state.FAIL,)))


def _done_run(study: Any, key: str) -> bool:
    state = require_optuna().trial.TrialState
    return any(t.user_attrs.get(RUN_ATTR) == key for t in study.get_trials(deepcopy=False, states=(state.COMPLETE,)))


def _done(study: Any) -> int:
    state = require_optuna().trial.TrialState
    return sum(t.state == state.COMPLETE and not is_spare(t) for t in study.get_trials(deepcopy=False))
