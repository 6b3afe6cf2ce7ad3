"""Where ablate and tune workers share their work: an Optuna study in a database (SQLite file or any RDB URL).

Optuna is the engine: its storage hands each waiting trial to exactly one worker, its heartbeats notice a worker
that died, and :class:`~optuna.storages.RetryHeartbeatStaleTrialCallback` puts that worker's trial back in the
queue for another. A study records what it was made from (a digest of the sweep or tune file and its base spec);
a worker whose files differ is refused instead of mixing two experiments in one table.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import MMFusionError, SpecError

if TYPE_CHECKING:
    import optuna

#: seconds between a running trial's heartbeats; a trial silent for ``GRACE_FACTOR`` times that is taken as dead
DEFAULT_HEARTBEAT = 30
GRACE_FACTOR = 3
#: user attributes of every study mmfusion makes
KIND_ATTR, DIGEST_ATTR, SOURCE_ATTR, OUT_ATTR = "mmfusion.kind", "mmfusion.digest", "mmfusion.source", "mmfusion.out"
#: how many times a dead worker's trial is run again before it stays failed
MAX_RETRY = 3


#: what a worker sees when another one creates the same database's tables at the same moment
_CREATION_RACES = ("already exists", "locked", "UNIQUE constraint", "duplicate key")


class StorageError(MMFusionError):
    """The study storage cannot be reached or opened, or holds another experiment under the study's name."""


def require_optuna() -> Any:
    """Import optuna, or say how to install it."""
    try:
        import optuna
    except ImportError:
        raise MMFusionError("searching and sharing sweeps need Optuna: pip install 'mmfusion[tune]'") from None
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # our own lines say what happens
    # heartbeats and their retry callback are marked experimental; they are what keeps a dead worker's run
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    return optuna


def default_url(out_dir: Path) -> str:
    """An SQLite file in the output folder: zero set-up, and enough for workers on one machine."""
    out_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(out_dir / 'study.db').resolve()}"


def masked(url: str) -> str:
    """The URL with its password replaced, for messages and files (also a malformed URL, or ``@`` in a password:
    everything up to the last ``@`` goes)."""
    from ..run.lock import mask_passwords

    return mask_passwords(url)


def _driver_url(url: str) -> str:
    """``postgresql://`` with the driver that is installed (psycopg 3, else SQLAlchemy's default psycopg2)."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        try:
            import psycopg  # noqa: F401
        except ImportError:
            return url.replace("postgres://", "postgresql://", 1)
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def open_storage(url: str, *, heartbeat: int = DEFAULT_HEARTBEAT) -> optuna.storages.RDBStorage:
    """Open (and create the tables of) the study database at ``url``, with heartbeats and retry of dead trials.

    Raises:
        StorageError: the URL is malformed, its driver is missing, or the server cannot be reached.
    """
    optuna = require_optuna()
    from optuna.storages import RDBStorage

    if heartbeat < 1:
        raise SpecError(f"--heartbeat must be at least 1 second, got {heartbeat}")
    engine_kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):  # several local workers: wait for the file lock rather than fail at once
        engine_kwargs["connect_args"] = {"timeout": 120}
    else:
        engine_kwargs["pool_pre_ping"] = True
    try:
        for attempt in range(5):
            try:
                return RDBStorage(_driver_url(url), engine_kwargs=engine_kwargs, heartbeat_interval=heartbeat,
                                  grace_period=GRACE_FACTOR * heartbeat,
                                  heartbeat_stale_trial_callback=_RetryUnlessSpare(MAX_RETRY))
            except Exception as exc:  # noqa: BLE001 - workers starting together race to create the tables
                if attempt == 4 or not any(race in str(exc) for race in _CREATION_RACES):
                    raise
                time.sleep(0.5 + attempt)
        raise AssertionError("unreachable")
    except (ImportError, ModuleNotFoundError) as exc:
        hint = " (pip install 'mmfusion[postgres]')" if url.startswith("postgres") else ""
        raise StorageError(f"cannot open the study storage {masked(url)}: its database driver is missing ({exc}); "
                           f"install it{hint}") from None
    except Exception as exc:  # noqa: BLE001 - SQLAlchemy's errors: a bad URL, a refused connection, bad credentials
        if isinstance(exc, optuna.exceptions.StorageInternalError) and exc.__cause__ is not None:
            exc = exc.__cause__
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StorageError(f"cannot open the study storage {masked(url)}: {reason}; check the URL, that the "
                           "database server runs and that this machine may connect to it") from None


class _RetryUnlessSpare:
    """Optuna's retry of a trial whose worker died, except for a worker's spare trial (it did no work)."""

    def __init__(self, max_retry: int | None) -> None:
        from optuna.storages import RetryHeartbeatStaleTrialCallback

        self.retry = RetryHeartbeatStaleTrialCallback(max_retry=max_retry)

    def __call__(self, study: Any, trial: Any) -> None:
        if not trial.user_attrs.get("spare"):
            self.retry(study, trial)


def open_study(storage: optuna.storages.RDBStorage, name: str, *, kind: str, digest: str, source: str,
               out_dir: Path | None = None, direction: str = "maximize", sampler: Any = None, pruner: Any = None,
               on_create: Any = None) -> tuple[optuna.Study, bool]:
    """Create the study ``name``, or join it when another worker made it from the same files.

    ``on_create(study)`` runs once, in the worker that created the study (a sweep queues its runs there); the
    others wait until it has finished. Returns the study and whether this call created it.

    ``out_dir``: where the study's run folders are; every worker must use the same one.

    Raises:
        StorageError: the storage holds a study of that name made from other files, or of the other kind, or
            writing its runs elsewhere.
    """
    optuna = require_optuna()
    out = str(out_dir.resolve()) if out_dir is not None else None
    try:
        study = optuna.create_study(storage=storage, study_name=name, direction=direction, sampler=sampler,
                                    pruner=pruner)
        created = True
    except optuna.exceptions.DuplicatedStudyError:
        study = optuna.load_study(storage=storage, study_name=name, sampler=sampler, pruner=pruner)
        created = False
    if not created:
        _check_same(study, name, kind, digest, source, storage)
        made_in = study.user_attrs.get(OUT_ATTR)
        if out is not None and made_in not in (None, out):
            raise StorageError(f"the study '{name}' in {masked(storage.url)} keeps its runs in {made_in}, not in "
                               f"{out}: give every worker that --out (on a shared filesystem across machines), or "
                               "name a new study with --study")
        return study, False
    if on_create is not None:
        on_create(study)
    if out is not None:
        study.set_user_attr(OUT_ATTR, out)
    study.set_user_attr(SOURCE_ATTR, source)
    study.set_user_attr(KIND_ATTR, kind)
    study.set_user_attr(DIGEST_ATTR, digest)  # set last: a joining worker waits for it (the queue is complete)
    return study, True


def _check_same(study: optuna.Study, name: str, kind: str, digest: str, source: str, storage: Any,
                wait: float = 120.0) -> None:
    deadline = time.monotonic() + wait
    attrs = study.user_attrs
    while DIGEST_ATTR not in attrs and time.monotonic() < deadline:  # its creator is still setting it up
        time.sleep(0.2)
        attrs = study.user_attrs
    where = f"the study '{name}' in {masked(storage.url) if hasattr(storage, 'url') else 'the storage'}"
    if DIGEST_ATTR not in attrs:
        raise StorageError(f"{where} was not made by mmfusion (or its maker died while setting it up); "
                           "name another study with --study")
    if attrs.get(KIND_ATTR) != kind:
        raise StorageError(f"{where} is a {attrs.get(KIND_ATTR)} study, not a {kind}; name another study with "
                           "--study")
    if attrs[DIGEST_ATTR] != digest:
        raise StorageError(f"{where} was made from {attrs.get(SOURCE_ATTR, 'other files')} with other settings "
                           f"than {source} now has (the file or its base spec changed); name a new study with "
                           "--study (or, with the default storage, use another --out)")
