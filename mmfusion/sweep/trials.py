"""Counting and re-queueing the trials of a shared study (a sweep's queue of runs, or a tune's trials).

Every trial that does work carries the user attribute ``run``: the run folder it trains (a sweep's
``variant/seed``, a tune's first trial number). A retry carries the same ``run`` and so continues the same folder.
A worker that finds nothing left to do ends its own trial as a *spare* (pruned, attribute ``spare``), which the
tables and counts leave out.
"""

from __future__ import annotations

import time
from typing import Any

from .storage import MAX_RETRY, require_optuna

RUN_ATTR, SPARE, ERROR = "run", "spare", "error"


def is_spare(trial: Any) -> bool:
    return bool(trial.user_attrs.get(SPARE))


def counts(study: Any, exclude: int | None = None) -> dict[str, int]:
    """``finished``: complete, pruned, or failed with a reason of their own (an invalid combination of values);
    ``claimed``: those and every trial running or waiting, i.e. the trials the study will have when they end."""
    state = require_optuna().trial.TrialState
    finished = claimed = 0
    for trial in study.get_trials(deepcopy=False):
        if trial.number == exclude or is_spare(trial):
            continue
        done = trial.state in (state.COMPLETE, state.PRUNED) or (trial.state == state.FAIL and ERROR in
                                                                   trial.user_attrs)
        finished += done
        claimed += done or trial.state in (state.RUNNING, state.WAITING)
    return {"finished": finished, "claimed": claimed}


def requeue_interrupted(study: Any) -> list[Any]:
    """Queue again each run whose last trial failed without a reason of its own (Ctrl-C, a crash, a worker whose
    heartbeat stopped before retries were on) and that no other trial holds; returns the runs queued.

    Optuna's heartbeat already re-queues trials of workers that died while others kept running; this covers the
    study being started again after every worker stopped.
    """
    optuna = require_optuna()
    from optuna.storages import RetryHeartbeatStaleTrialCallback

    state = optuna.trial.TrialState
    trials = study.get_trials(deepcopy=False)
    held = {_key(t) for t in trials if t.state != state.FAIL and RUN_ATTR in t.user_attrs}
    latest: dict[Any, Any] = {}
    for trial in trials:
        if trial.state == state.FAIL and RUN_ATTR in trial.user_attrs and ERROR not in trial.user_attrs:
            latest[_key(trial)] = trial
    retry = RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY)
    queued = []
    for key, trial in latest.items():
        if key not in held:
            retry(study, trial)
            queued.append(trial.user_attrs[RUN_ATTR])
    return queued


def _key(trial: Any) -> str:
    value = trial.user_attrs[RUN_ATTR]
    return repr(value)


def wait_for_work(study: Any, own: int, poll: float) -> bool:
    """Wait while other workers train; True as soon as a run is queued again (a worker died), False when every
    run has ended."""
    optuna = require_optuna()
    state = optuna.trial.TrialState
    while True:
        optuna.storages.fail_stale_trials(study)  # a dead worker's trial → failed and queued again
        trials = study.get_trials(deepcopy=False, states=(state.WAITING, state.RUNNING))
        if any(t.state == state.WAITING for t in trials):
            return True
        if not any(t.number != own and not is_spare(t) for t in trials):
            return False
        time.sleep(poll)
