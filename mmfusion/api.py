"""The Python API, mirroring the CLI: fit a spec, evaluate a run, predict with a run."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .blame import plugin_errors_named
from .evaluation.evaluate import EvaluationReport, evaluate_run
from .interfaces.callback import Callback
from .prediction.predictor import Prediction, Predictor
from .registry import Registry
from .run.load import LoadedRun
from .search.runner import TuneResult
from .spec.loader import load_spec
from .spec.spec import Spec
from .training.trainer import FitResult, Trainer


def fit(spec: Spec | str | Path | Mapping[str, Any], *, out: str | Path, train: Any = None, validation: Any = None,
        test: Any = None, image_root: str | Path | None = None, device: str = "auto", resume: bool = False,
        progress: bool = False, registry: Registry | None = None, callbacks: Sequence[Callback] = ()) -> FitResult:
    """Train a spec (a Spec, a spec file or a mapping) and write the run directory ``out``.

    ``train``, ``validation``, ``test``: DataFrames to use instead of the spec's ``data.source`` (columns as in
    ``data.columns``; relative image paths resolve against ``image_root``). ``resume`` continues the run in
    ``out`` after its last finished epoch; ``callbacks`` run after the spec's ``train.callbacks``. The result
    holds the history, best epoch, test metrics, summary and the trained run in memory (best weights loaded).
    """
    from .data.tables import as_dataset_tables

    tables = as_dataset_tables(train, validation, test, root=image_root) if train is not None else None
    spec = spec if isinstance(spec, Spec) else load_spec(spec, registry=registry)
    with plugin_errors_named(registry):
        return Trainer(spec, out, device=device, resume=resume, progress=progress, tables=tables,
                       registry=registry, callbacks=callbacks).fit()


def evaluate(run: str | Path | LoadedRun, data: Any = None, *, out: str | Path | None = None,
             image_root: str | Path | None = None, device: str = "auto", batch_size: int | None = None,
             corruptions: Any = (), progress: bool = False,
             registry: Registry | None = None, on_bad_value: str | Mapping[str, str] | None = None,
             baselines: Sequence[str | Path] = (), explain: bool = True) -> EvaluationReport:
    """Evaluate a run on its test split or on ``data`` (file or DataFrame); see :func:`evaluate_run`.

    ``corruptions``: robustness curves, e.g. ``["image:blur=0,0.5,1"]``, or True for all of them.
    ``baselines``: runs on some of the run's inputs, compared with the run without the inputs they lack.
    ``explain``: with several inputs, the reliance on each input (Shapley values over the inputs per row).
    """
    with plugin_errors_named(registry):
        return evaluate_run(run, data, out=out, image_root=image_root, device=device, batch_size=batch_size,
                            corruptions=corruptions, progress=progress, registry=registry,
                            on_bad_value=on_bad_value, baselines=baselines, explain=explain)


def tune(tune_file: str | Path, out: str | Path | None = None, *, storage: str | None = None,
         study: str | None = None, device: str = "auto", progress: bool = False, timeout: float | None = None,
         registry: Registry | None = None) -> TuneResult:
    """Search the space of ``tune_file`` with Optuna (see :func:`mmfusion.search.runner.tune`): trials train in
    ``out``, the study lives in ``storage`` (default: SQLite in ``out``); calling it again continues the study."""
    from .search.runner import tune as run_tune

    with plugin_errors_named(registry):
        return run_tune(tune_file, out, storage=storage, study_name=study, device=device, progress=progress,
                        timeout=timeout, registry=registry)


__all__ = ["EvaluationReport", "FitResult", "Prediction", "Predictor", "TuneResult", "evaluate", "fit", "tune"]
