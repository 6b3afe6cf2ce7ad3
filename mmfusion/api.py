"""The Python API, mirroring the CLI: fit a spec, evaluate a run, predict with a run."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .evaluation.evaluate import EvaluationReport, evaluate_run
from .interfaces.callback import Callback
from .interfaces.dataset import DatasetTables
from .prediction.predictor import Prediction, Predictor
from .registry import Registry
from .run.load import LoadedRun
from .spec.loader import load_spec
from .spec.spec import Spec
from .training.trainer import FitResult, Trainer


def _as_spec(spec: Spec | str | Path | Mapping[str, Any], registry: Registry | None) -> Spec:
    return spec if isinstance(spec, Spec) else load_spec(spec, registry=registry)


def fit(spec: Spec | str | Path | Mapping[str, Any], *, out: str | Path, train: Any = None, validation: Any = None,
        test: Any = None, image_root: str | Path | None = None, device: str = "auto", resume: bool = False,
        progress: bool = False, registry: Registry | None = None, callbacks: Sequence[Callback] = ()) -> FitResult:
    """Train a spec and write a run directory.

    Args:
        spec: a Spec, a path to a spec file, or a spec mapping.
        out: the run directory to write.
        train, validation, test: pandas DataFrames to use instead of the spec's ``data.source``
            (columns as in ``data.columns``); relative image paths resolve against ``image_root``.
        device: auto, cpu, cuda[:N] or mps.
        resume: continue the run in ``out`` after its last finished epoch.
        progress: show progress bars and status lines.
        callbacks: :class:`mmfusion.Callback` instances to run in the training loop, after the spec's
            ``train.callbacks``.

    Returns:
        The run directory, per-epoch history, best epoch and test metrics, the summary, the trained run in
        memory (``run``, best weights loaded) and the test predictions behind the test metrics.
    """
    from .data.tables import as_dataset_tables

    tables: DatasetTables | None = None
    if train is not None:
        tables = as_dataset_tables(train, validation, test, root=image_root)
    return Trainer(_as_spec(spec, registry), out, device=device, resume=resume, progress=progress, tables=tables,
                   registry=registry, callbacks=callbacks).fit()


def evaluate(run: str | Path | LoadedRun, data: Any = None, *, out: str | Path | None = None,
             image_root: str | Path | None = None,
             device: str = "auto", batch_size: int | None = None, corruptions: Any = (), progress: bool = False,
             registry: Registry | None = None, on_bad_value: str | Mapping[str, str] | None = None) -> EvaluationReport:
    """Evaluate a run on its test split or on ``data`` (file or DataFrame); see :func:`evaluate_run`.

    ``corruptions``: robustness curves, e.g. ``["image:blur=0,0.5,1"]``, or True for all of them.
    """
    return evaluate_run(run, data, out=out, image_root=image_root, device=device, batch_size=batch_size,
                        corruptions=corruptions, progress=progress, registry=registry,
                        on_bad_value=on_bad_value)


__all__ = ["EvaluationReport", "FitResult", "Prediction", "Predictor", "evaluate", "fit"]
