"""Checks every metrics logger must pass: every event in the order training sends them, values that may be None
and columns a callback added, ``close`` safe to call twice, and a resume after a crash that holds each epoch once.

Training logs an epoch before its checkpoint is written, so a crash in between resumes from the epoch before:
the logger hears ``resume(spec, history)`` with the epochs that count, then the lost epoch again. A logger that
can be read back (:meth:`mmfusion.Logger.conformance_history`) must then hold every epoch exactly once, with the
values logged after the resume.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

from ..interfaces.logger import Logger
from .common import check_configs, configs_for, network_blocked, require, workdir_for

SPEC = {"model": {"encoders": {"text": {"type": "hf_text"}}, "fusion": {"type": "concat"}, "head": {"type": "mlp"}},
        "train": {"epochs": 3, "lr": 0.001}}
REPORT = {"best_epoch": 3, "epochs_run": 3, "test": {"accuracy": 0.9, "macro_f1": 0.85, "rows": 10}}
_FOLDERS = itertools.count()


def _row(epoch: int, train_loss: float | None = None) -> dict[str, Any]:
    """An epoch's row as training sends it: a missing value (None) and a column a callback added."""
    return {"epoch": epoch, "train_loss": 1.0 / epoch if train_loss is None else train_loss, "val_loss": None,
            "val_accuracy": 0.5 + 0.1 * epoch, "val_macro_f1": None, "lr": 0.001, "seconds": 1.5,
            "train_samples_per_s": 100.0, "grad_norm": 2.0 * epoch}


def _run_dir(component: type[Logger]) -> Path:
    path = workdir_for(component) / f"run-{next(_FOLDERS)}"
    path.mkdir(parents=True)
    return path


def _new(component: type[Logger], config: Any, run_dir: Path) -> Logger:
    with network_blocked():
        return component(config, run_dir)


def _epochs(component: type[Logger], config: Any, run_dir: Path, expected: dict[int, float], when: str) -> None:
    """If the logger reads back: it holds exactly ``expected``'s epochs, once each, with those train losses."""
    history = component.conformance_history(config, run_dir)
    if history is None:
        return
    epochs = [int(row["epoch"]) for row in history]
    require(epochs == sorted(expected), f"{when}: the logger holds epochs {epochs}, expected {sorted(expected)} "
            "(each once)")
    for row in history:
        kept, wanted = row.get("train_loss"), expected[int(row["epoch"])]
        require(kept is not None and math.isclose(float(kept), wanted, rel_tol=1e-5),
                f"{when}: epoch {row['epoch']} holds train_loss {kept}, expected {wanted}")


def check_logger_config(component: type[Logger]) -> None:
    """Configs round-trip through JSON, forbid unknown keys and carry the component's name as type."""
    check_configs(component)


def check_logger_events(component: type[Logger]) -> None:
    """A whole run (config, three epochs with None values and a callback's column, the report, close) runs, and
    a second ``close`` does nothing."""
    for config in configs_for(component):
        run_dir = _run_dir(component)
        logger = _new(component, config, run_dir)
        logger.log_config(SPEC)
        for epoch in (1, 2, 3):
            logger.log_metrics(epoch, _row(epoch))
        logger.log_report(REPORT)
        logger.close()
        logger.close()  # idempotent: training may close a logger it already closed on an error path
        _epochs(component, config, run_dir, {e: 1.0 / e for e in (1, 2, 3)}, "after a whole run")


def check_logger_resume(component: type[Logger]) -> None:
    """Epoch 2 logged, then a crash before its checkpoint: the resumed logger hears ``resume`` with epoch 1 and
    logs epochs 2 and 3 again; it must hold epochs 1, 2, 3 once each, epoch 2 with the resumed values."""
    for config in configs_for(component):
        run_dir = _run_dir(component)
        first = _new(component, config, run_dir)
        first.log_config(SPEC)
        first.log_metrics(1, _row(1))
        first.log_metrics(2, _row(2))
        first.close(failed=True)
        resumed = _new(component, config, run_dir)
        resumed.resume(SPEC, [_row(1)])
        resumed.log_metrics(2, _row(2, train_loss=0.45))
        resumed.log_metrics(3, _row(3))
        resumed.log_report(REPORT)
        resumed.close()
        _epochs(component, config, run_dir, {1: 1.0, 2: 0.45, 3: 1.0 / 3}, "after a crash and a resume")


def check_logger_failed_run(component: type[Logger]) -> None:
    """A run that fails right after starting: ``close(failed=True)``, twice, without an error."""
    for config in configs_for(component):
        logger = _new(component, config, _run_dir(component))
        logger.log_config(SPEC)
        logger.close(failed=True)
        logger.close(failed=True)


LOGGER_CHECKS = [check_logger_config, check_logger_events, check_logger_resume, check_logger_failed_run]
