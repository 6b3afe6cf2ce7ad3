"""A sweep's runs shared by several workers through an Optuna study: one queued trial per variant × seed.

The first worker creates the study and queues every run as a waiting trial; Optuna's storage hands each waiting
trial to exactly one worker (``study.optimize`` pops it). A worker whose queue is empty keeps watching while
other workers still train: if one of them dies, its heartbeat stops, Optuna fails its trial and queues it again
(:class:`~optuna.storages.RetryHeartbeatStaleTrialCallback`), and the watcher takes it; the retry resumes the run
folder from its last finished epoch. No scheduler of ours: ordering, claiming and retrying are Optuna's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..progress import Reporter
from .storage import DEFAULT_HEARTBEAT, open_storage, open_study, require_optuna
from .trials import RUN_ATTR, SPARE, is_spare, requeue_interrupted, wait_for_work


def run_shared(url: str, name: str, keys: Mapping[str, Any], run: Callable[[str, str], float], *, digest: str,
               source: str, reporter: Reporter, heartbeat: int = DEFAULT_HEARTBEAT) -> None:
    """Take runs from the study ``name`` at ``url`` (creating it with ``keys`` queued) until none is left.

    ``run(key, label)`` trains and evaluates one run and returns its ranking metric (the trial's value).

    Raises:
        StorageError: the storage cannot be opened, or holds a study of that name made from other files.
    """
    optuna = require_optuna()
    from optuna.trial import TrialState, create_trial

    def queue(study: Any) -> None:
        study.add_trials([create_trial(state=TrialState.WAITING, user_attrs={RUN_ATTR: key},
                                       system_attrs={"fixed_params": {}}) for key in keys])

    storage = open_storage(url, heartbeat=heartbeat)
    study, created = open_study(storage, name, kind="ablate", digest=digest, source=source, on_create=queue)
    again = requeue_interrupted(study)
    reporter.log(f"{'created' if created else 'joined'} the shared sweep '{name}' ({len(keys)} runs"
                 + (f"; {len(again)} interrupted run(s) queued again" if again else "") + ")")
    total = len(keys)

    def objective(trial: Any) -> float:
        key = trial.user_attrs.get(RUN_ATTR)
        if key is None:  # the queue was empty when this worker asked: watch the others, then stop
            trial.set_user_attr(SPARE, True)
            if not wait_for_work(study, trial.number, poll=max(1.0, heartbeat / 2)):
                study.stop()
            raise optuna.TrialPruned()
        return run(key, f"{_done(study) + 1}/{total} {key}")

    study.optimize(objective, catch=(), gc_after_trial=True)


def _done(study: Any) -> int:
    state = require_optuna().trial.TrialState
    return sum(t.state == state.COMPLETE and not is_spare(t) for t in study.get_trials(deepcopy=False))
