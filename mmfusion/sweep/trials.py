"""Counting, re-queueing and de-duplicating the trials of a shared study (a sweep's queue, or a tune's trials).

Every trial that does work carries the user attribute ``run``: the run folder it trains (a sweep's
``variant/seed``, a tune's first trial number). A retry carries the same ``run`` and so continues the same folder.
A trial that does no work — a worker found nothing left, or another trial already holds its run — ends as a
*spare* (pruned, attribute ``spare``), which the tables and counts leave out.
"""

from __future__ import annotations

import time
from typing import Any

from .storage import require_optuna

RUN_ATTR, SPARE, ERROR = "run", "spare", "error"


def is_spare(trial: Any) -> bool:
    return bool(trial.user_attrs.get(SPARE))


def is_finished(trial: Any) -> bool:
    """Complete, pruned, or failed with a reason of its own (values that cannot be trained, a diverged run)."""
    state = require_optuna().trial.TrialState
    return not is_spare(trial) and (trial.state in (state.COMPLETE, state.PRUNED)
                                    or (trial.state == state.FAIL and ERROR in trial.user_attrs))


def counts(study: Any, before: int | None = None) -> dict[str, int]:
    """``finished`` trials (:func:`is_finished`), and ``claimed``: those and every trial running or waiting, i.e.
    the trials the study will have when they end; with ``before``, only trials numbered below it are claimed, so
    that of two workers asking at once, the later trial is the one left over."""
    state = require_optuna().trial.TrialState
    finished = claimed = 0
    for trial in study.get_trials(deepcopy=False):
        if is_spare(trial):
            continue
        done = is_finished(trial)
        finished += done
        if before is None or trial.number < before:
            claimed += done or trial.state in (state.RUNNING, state.WAITING)
    return {"finished": finished, "claimed": claimed}


def held_elsewhere(study: Any, trial: Any) -> bool:
    """Whether another trial already holds this trial's run: it is complete, or it is running and started first
    (ties broken by trial number), as when two workers that started together queued the same interrupted run."""
    state = require_optuna().trial.TrialState
    run = trial.user_attrs.get(RUN_ATTR)
    mine = _order(trial)
    for other in study.get_trials(deepcopy=False, states=(state.COMPLETE, state.RUNNING)):
        if other.number == trial.number or is_spare(other) or other.user_attrs.get(RUN_ATTR) != run:
            continue
        if other.state == state.COMPLETE or _order(other) < mine:
            return True
    return False


def _order(trial: Any) -> tuple[float, int]:
    started = trial.datetime_start.timestamp() if trial.datetime_start else float("inf")
    return started, trial.number


def requeue_interrupted(study: Any, failed_too: bool = False) -> list[Any]:
    """Queue again each run whose last trial failed without a reason of its own (Ctrl-C, a crash, a worker whose
    heartbeat stopped) and that no other trial holds; returns the runs queued. ``failed_too``: also runs that
    failed with a reason (a sweep's run whose data was bad may have been fixed since; a tune's impossible values
    stay failed).

    Optuna's heartbeat re-queues trials of workers that died while others kept running (up to a few times, so
    that a run that kills its worker does not loop); this covers the study being started again, which always
    retries.
    """
    optuna = require_optuna()
    from optuna.storages import RetryHeartbeatStaleTrialCallback

    state = optuna.trial.TrialState
    trials = study.get_trials(deepcopy=False)
    held = {repr(t.user_attrs[RUN_ATTR]) for t in trials
            if t.state != state.FAIL and RUN_ATTR in t.user_attrs and not is_spare(t)}
    latest: dict[str, Any] = {}
    for trial in trials:
        if trial.state == state.FAIL and RUN_ATTR in trial.user_attrs and (failed_too or ERROR not in trial.user_attrs):
            latest[repr(trial.user_attrs[RUN_ATTR])] = trial
    retry = RetryHeartbeatStaleTrialCallback(max_retry=None)
    queued = []
    for key, trial in latest.items():
        if key not in held:
            retry(study, trial)
            queued.append(trial.user_attrs[RUN_ATTR])
    return queued


def wait_for_work(study: Any, own: int, poll: float, deadline: float | None = None) -> bool:
    """Wait while other workers train; True as soon as a run is queued again (a worker died), False when every
    run has ended (or at ``deadline``, a ``time.monotonic()`` value)."""
    optuna = require_optuna()
    state = optuna.trial.TrialState
    while deadline is None or time.monotonic() < deadline:
        optuna.storages.fail_stale_trials(study)  # a dead worker's trial → failed and queued again
        trials = study.get_trials(deepcopy=False, states=(state.WAITING, state.RUNNING))
        if any(t.state == state.WAITING for t in trials):
            return True
        if not any(t.number != own and not is_spare(t) for t in trials):
            return False
        time.sleep(poll)
    return False
