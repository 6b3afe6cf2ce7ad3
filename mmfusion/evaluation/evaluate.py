"""Evaluating a run: the task's metrics, per-class report, confusion matrix (or per-label F1), and the metrics with
modalities removed."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..data.cells import FILE_COLUMNS, ROW_COLUMN, user_columns
from ..data.files import read_table, table_columns
from ..data.labels import LabelSet
from ..data.pipeline import build_pipeline, modality_handlers
from ..data.tables import PreparedTables, load_prepared_tables, with_table
from ..errors import DataError, MMFusionError
from ..inference.drift import drift_report, read_references
from ..inference.engine import InferenceEngine, Predictions
from ..inference.reliance import reliance
from ..io import write_json_atomic, write_text_atomic
from ..plots import (
    confusion_matrix_plot,
    corruption_curves_plot,
    per_label_f1_plot,
    reliability_plot,
    reliance_plot,
    robustness_plot,
)
from ..progress import Reporter
from ..registry import Registry
from ..run.load import LoadedRun, load_run
from ..runtime.devices import resolve_device
from ..tasks.calibration import calibration_metrics, reliability
from ..tasks.decisions import decide
from ..tasks.definitions import HEADLINE
from ..tasks.metrics import confusion, per_class_report, task_metrics
from ..tasks.scores import scores_for
from ..tasks.thresholds import as_mapping
from .baselines import compare, condition_name, removed_inputs
from .corruption_curves import CorruptedModality, CorruptionPlan, check_plans, default_plans, summarise_curves
from .predictions import FILE as PREDICTIONS_FILE
from .predictions import SamplePredictions, write_predictions
from .report import evaluation_markdown

if TYPE_CHECKING:
    import torch


@dataclass
class EvaluationReport:
    """Metrics of a run on one table, with and without each modality.

    ``metrics`` holds the task's metrics (:data:`mmfusion.tasks.definitions.METRICS`) and ``headline`` the one the
    robustness curves follow. ``accuracy`` is subset accuracy for multilabel; ``confusion`` is empty for
    multilabel (``per_class`` has every label's precision, recall and F1). ``thresholds`` are those of
    multilabel and binary runs, by label.
    """

    data: str
    rows: int
    accuracy: float
    macro_f1: float
    per_class: dict[str, Any]
    confusion: list[list[int]]
    labels: list[str]
    robustness: list[dict[str, Any]]
    corruption_curves: list[dict[str, Any]] = field(default_factory=list)
    corruption_summary: list[dict[str, Any]] = field(default_factory=list)
    out_dir: Path | None = None
    files: dict[str, str] = field(default_factory=dict)
    task: str = "multiclass"
    metrics: dict[str, float] = field(default_factory=dict)
    headline: str = "accuracy"
    thresholds: dict[str, float] | None = None
    #: each input's drift from the training rows (:mod:`mmfusion.inference.drift`); empty without a reference
    drift: list[dict[str, Any]] = field(default_factory=list)
    #: with ``train.quality_gate``: per input, the rows that have it and those whose input the gate dropped
    gate: list[dict[str, Any]] = field(default_factory=list)
    #: with ``baselines``: the score without the inputs each baseline run lacks, against that run's
    #: (:mod:`.baselines`)
    baselines: list[dict[str, Any]] = field(default_factory=list)
    #: ECE, adaptive ECE and Brier score of the scores (:mod:`mmfusion.tasks.calibration`); a calibrated run
    #: also has them ``uncalibrated`` and its ``temperature``
    calibration: dict[str, Any] = field(default_factory=dict)
    #: models with several inputs: the reliance on each input, overall and per class
    #: (:mod:`mmfusion.inference.reliance`)
    reliance: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["out_dir"] = str(self.out_dir) if self.out_dir else None
        return data

    def to_markdown(self) -> str:
        return evaluation_markdown(self)


def _evaluation_tables(run: LoadedRun, data: Any, image_root: str | Path | None, registry: Registry | None,
                       prepared: PreparedTables | None) -> tuple[PreparedTables, str]:
    """The run's own test split (of ``prepared`` where given), or a file / DataFrame given by the user (same
    columns as training)."""
    spec_data = run.spec.data
    if spec_data is None:
        raise DataError("the run's spec has no data section; pass the data to evaluate")
    if data is None:
        if prepared is None and spec_data.source is None:
            raise DataError("the run was trained on DataFrames (no data.source in its spec): pass the data to "
                            "evaluate (--data FILE, or data=DataFrame)")
        prepared = prepared or load_prepared_tables(spec_data, registry=registry)
        if "test" not in prepared.tables:
            raise DataError("the run's data has no test table (data.source test or data.split.test); "
                            "pass one with --data FILE")
        return prepared, "test"
    import pandas as pd

    # the columns training used, so that new data needs only the same column names
    base = PreparedTables(tables={}, names={}, columns=dict(run.inputs.get("columns", {})),
                          label_column=run.inputs.get("label_column") or spec_data.label or "label")
    root = Path(image_root) if image_root else None
    if isinstance(data, pd.DataFrame):
        return with_table(base, "evaluation", data, root=root), "evaluation"
    path = Path(data)
    return with_table(base, "evaluation", _read_needed(path, run, base.label_column or "label"), path, root), \
        "evaluation"


def _read_needed(path: Path, run: LoadedRun, label_column: str) -> Any:
    """The columns evaluation reads (each input's and the label's), a chunk at a time, so that the other columns
    of a wide table are never held in memory. A table that lacks one of them is read whole, for the error that
    lists its columns."""
    spec_columns = run.spec.data.columns if run.spec.data is not None else {}
    trained = run.inputs.get("columns", {})
    needed = {label_column}
    for m in run.model.encoders:
        given = spec_columns.get(m) or trained.get(m) or m
        needed.update([given] if isinstance(given, str) else given)
    header = table_columns(path)
    table = read_table(path, columns=list(needed) if needed <= set(header) else None)
    table.attrs[FILE_COLUMNS] = header  # messages list every column of the file
    return table


def evaluate_run(run: LoadedRun | str | Path, data: Any = None, *, out: str | Path | None = None,
                 image_root: str | Path | None = None, device: str = "auto", batch_size: int | None = None,
                 corruptions: Sequence[CorruptionPlan | str] | bool = (), progress: bool = False,
                 registry: Registry | None = None, on_bad_value: str | Mapping[str, str] | None = None,
                 prepared: PreparedTables | None = None, test_predictions: Predictions | None = None,
                 baselines: Sequence[str | Path] = (), explain: bool = True) -> EvaluationReport:
    """Evaluate a run on its test split or on ``data`` (a file or DataFrame with the training columns).

    Args:
        corruptions: robustness curves to measure: plans (or ``"image:blur=0,0.5,1"`` strings), or
            True for every registered corruption of every input at intensities 0, .25, .5, .75, 1.
        on_bad_value: "error" or "absent" (or input → either) for unusable values in the evaluated data
            (default: the run's ``data.on_bad_value``).
        prepared: the run's tables, already read and prepared for its ``data:`` (a sweep reads them once).
        test_predictions: the run's predictions on its test table with every input, made by training just now
            (the test report's): reused instead of predicted again.
        baselines: runs trained on some of the run's inputs (e.g. an ablation's single-input baselines): each is
            evaluated on the same rows, and the run's score without the inputs it lacks is compared with its score.
        explain: with several inputs, each row's Shapley values over the inputs (:mod:`mmfusion.inference.
            attribution`), summed up as the reliance on each input overall and per class (reliance.png).

    Writes report.json, report.md, predictions.npz (every row's scores, for paired tests and ensembles),
    confusion_matrix.png, robustness.png, reliability.png (and reliance.png, corruption_curves.png) to ``out``
    (default: RUN/eval/<data name>).
    """
    reporter = Reporter(progress)
    target = resolve_device(device)
    if not isinstance(run, LoadedRun):
        run = load_run(run, device=target, registry=registry)
    model = run.model.to(target).eval()
    prepared, split = _evaluation_tables(run, data, image_root, registry, prepared)
    task, thresholds = run.task, run.thresholds
    labels = LabelSet(run.labels, task=task, sep=run.label_sep)
    table = prepared.tables[split]
    if prepared.label_column not in table.columns:
        raise DataError(f"{prepared.names.get(split, split)} has no label column '{prepared.label_column}' "
                        f"(columns: {', '.join(user_columns(table))}); evaluation compares predictions with "
                        "labels — for unlabelled data use `mmfusion predict --csv`")
    engine = InferenceEngine.for_run(model, run.spec.train, target, registry=registry, task=task,
                                     temperature=run.temperature)
    train = run.spec.train
    data_spec = run.spec.data.with_bad_value_policy(on_bad_value)
    pipeline_for = functools.partial(
        build_pipeline, model, data_spec, prepared, labels, splits=[split], cache=train.cache_features,
        cache_dir=Path(train.cache_dir) if train.cache_dir else None, device=target,
        autocast=engine.precision.autocast, channels_last=engine.channels_last, feature_dtype=train.feature_dtype,
        registry=registry)
    pipeline = pipeline_for(reporter=reporter)
    if batch_size is not None and batch_size < 1:
        raise MMFusionError(f"batch size must be at least 1, got {batch_size}")
    size = batch_size or train.eval_batch_size or 4 * train.batch_size
    conditions: list[tuple[str, list[str]]] = [("all modalities", [])]
    if len(model.modalities) > 1:
        conditions += [(f"without {m}", [m]) for m in model.modalities]
    results = {}
    rows = len(pipeline.tables[split])
    explain = explain and len(model.modalities) > 1
    if test_predictions is not None and split == "test" and len(test_predictions.probabilities) == rows and (
            test_predictions.attribution is not None or not explain):
        results["all modalities"], conditions = test_predictions, conditions[1:]  # the test report's, not again
    references = read_references(run.paths.drift)
    for name, absent in conditions:
        with reporter.task(f"evaluating: {name}", pipeline.num_batches(split, size)) as advance:
            results[name] = engine.predict(pipeline.batches(split, size), absent=absent, advance=advance,
                                           drift=None if absent else references, explain=explain and not absent)
    compared = _against_baselines(baselines, run, data, prepared if data is None else None, image_root, folder_of(
        out, run, prepared.names.get(split, split)), target, batch_size, on_bad_value, registry, results, engine,
        pipeline, split, size, HEADLINE[task], thresholds)
    plans: list[CorruptionPlan] = (default_plans(model, registry) if corruptions is True else
                                   [p if isinstance(p, CorruptionPlan) else CorruptionPlan.parse(p)
                                    for p in (corruptions or [])])
    full = results["all modalities"]
    drift = drift_report(full.drift or {}, references or {}, reporter.warn)
    curves = _corruption_curves(engine, pipeline_for, split, plans, size, reporter, registry, full, run)
    y, y_hat = full.labels, decide(task, full.probabilities, thresholds)
    metrics = task_metrics(task, y, full.probabilities, thresholds)
    robustness = [{"condition": name, "rows": int(len(r.labels)),
                   **task_metrics(task, r.labels, r.probabilities, thresholds)} for name, r in results.items()]
    table_name = prepared.names.get(split, split)
    per_class = per_class_report(y, y_hat, labels.names)
    headline = HEADLINE[task]
    folder = folder_of(out, run, table_name)
    report = EvaluationReport(
        data=table_name, rows=int(len(y)), accuracy=metrics.get("accuracy", metrics.get("subset_accuracy", 0.0)),
        macro_f1=metrics.get("macro_f1", per_class.get("macro avg", {}).get("f1-score", float("nan"))),
        per_class=per_class, confusion=[] if task == "multilabel" else confusion(y, y_hat, len(labels)).tolist(),
        labels=labels.names, robustness=robustness, corruption_curves=curves,
        corruption_summary=summarise_curves(curves, headline), out_dir=folder, task=task, metrics=metrics,
        headline=headline, thresholds=as_mapping(task, labels.names, thresholds) if thresholds is not None else None,
        drift=[d.as_dict() for d in drift], gate=gate_shares(full), baselines=compared,
        calibration=calibration_section(run, full, registry),
        reliance=reliance(full.attribution, task, full.probabilities, labels.names, thresholds, engine.centred)
        if full.attribution is not None else {})
    if task == "multilabel":
        files = {"per_label_f1": per_label_f1_plot(per_class, labels.names, folder / "per_label_f1.png",
                                                   title=f"F1 per label: {table_name}")}
    else:
        files = {"confusion_matrix": confusion_matrix_plot(np.array(report.confusion), labels.names,
                                                           folder / "confusion_matrix.png",
                                                           title=f"Confusion matrix: {table_name}")}
    files["robustness"] = robustness_plot(robustness, folder / "robustness.png", metric=headline)
    files["reliability"] = reliability_plot(reliability(task, y, full.probabilities), report.calibration,
                                            folder / "reliability.png", title=f"Reliability: {table_name}")
    if report.reliance:
        files["reliance"] = reliance_plot(report.reliance, folder / "reliance.png",
                                          title=f"Reliance on each input: {table_name}")
    if curves:
        files["corruption_curves"] = corruption_curves_plot(curves, folder / "corruption_curves.png", metric=headline)
    files["predictions"] = write_predictions(folder / PREDICTIONS_FILE, SamplePredictions(
        rows=_row_numbers(table, len(y)), labels=y, probabilities=full.probabilities, label_names=labels.names,
        task=task, thresholds=thresholds))
    report.files = {**{k: str(v) for k, v in files.items()}, "json": str(folder / "report.json"),
                    "markdown": str(folder / "report.md")}
    write_json_atomic(folder / "report.json", report.as_dict())
    write_text_atomic(folder / "report.md", report.to_markdown())
    return report


def calibration_section(run: LoadedRun, found: Predictions, registry: Registry | None = None) -> dict[str, Any]:
    """ECE, adaptive ECE and Brier score of the scores; for a calibrated run also of the scores before
    temperature scaling (``uncalibrated``) and the temperatures."""
    section: dict[str, Any] = calibration_metrics(run.task, found.labels, found.probabilities)
    if run.temperature is not None and found.logits is not None:
        import torch

        plain = scores_for(run.task, run.spec.train.loss, registry)(torch.from_numpy(found.logits)).numpy()
        section.update(temperature=run.temperature, uncalibrated=calibration_metrics(run.task, found.labels, plain))
    return section


def folder_of(out: str | Path | None, run: LoadedRun, table_name: str) -> Path:
    """The report folder: ``out``, or RUN/eval/<table name>."""
    return Path(out) if out else run.paths.root / "eval" / _slug(table_name)


def _against_baselines(baselines: Sequence[str | Path], run: LoadedRun, data: Any, prepared: PreparedTables | None,
                       image_root: str | Path | None, folder: Path, device: torch.device, batch_size: int | None,
                       on_bad_value: Any, registry: Registry | None, results: dict[str, Predictions],
                       engine: InferenceEngine, pipeline: Any, split: str, size: int, metric: str,
                       thresholds: Any) -> list[dict[str, Any]]:
    """Each baseline run evaluated on the same rows (its report in FOLDER/baselines/<name>), against the run's
    score without the inputs it lacks (predicted here when that condition is not in ``results`` yet)."""
    scored = []
    for k, baseline in enumerate(baselines):
        other = load_run(baseline, device=device, registry=registry)
        removed = removed_inputs(run.model.modalities, other.model.modalities, baseline)
        report = evaluate_run(other, data, out=folder / "baselines" / f"{k}-{_slug(Path(baseline).name)}",
                              image_root=image_root, device=str(device), batch_size=batch_size,
                              on_bad_value=on_bad_value, registry=registry, prepared=prepared)
        scored.append((str(baseline), removed, float(report.metrics[metric])))

    def without(removed: list[str]) -> float:
        name = condition_name(removed)
        if name not in results:
            results[name] = engine.predict(pipeline.batches(split, size), absent=removed)
        found = results[name]
        return float(task_metrics(run.task, found.labels, found.probabilities, thresholds)[metric])

    return compare(without, scored, metric)


def gate_shares(found: Predictions) -> list[dict[str, Any]]:
    """Per input, how many of the rows that have it the quality gate answered without it."""
    shares = []
    for m, flags in sorted((found.gated or {}).items()):
        had = flags[np.isfinite(flags)]
        shares.append({"input": m, "rows": int(had.size), "dropped": int(had.sum()),
                       "share": round(float(had.mean()), 4) if had.size else 0.0})
    return shares


def _corruption_curves(engine: InferenceEngine, pipeline_for: Callable[..., Any], split: str,
                       plans: Sequence[CorruptionPlan], size: int, reporter: Reporter, registry: Registry | None,
                       clean: Predictions, run: LoadedRun) -> list[dict[str, Any]]:
    """The task's metrics with one input corrupted at each intensity (intensity 0 reuses the clean result)."""
    corruptions = check_plans(plans, engine.model, registry)
    handlers = modality_handlers(engine.model, registry)
    rows = []
    for plan in plans:
        for intensity in plan.intensities:
            result = clean
            if intensity:
                pipeline = pipeline_for(reporter=Reporter(False, silent=True), modality_overrides={
                    plan.modality: CorruptedModality(handlers[plan.modality], corruptions[plan.corruption],
                                                     intensity)})
                with reporter.task(f"{plan.modality} {plan.corruption} @ {intensity:g}",
                                   pipeline.num_batches(split, size)) as advance:
                    result = engine.predict(pipeline.batches(split, size), advance=advance)
            rows.append({"modality": plan.modality, "corruption": plan.corruption, "intensity": intensity,
                         **task_metrics(run.task, result.labels, result.probabilities, run.thresholds)})
    return rows


def _row_numbers(table: Any, count: int) -> Any:
    """The evaluated rows' numbers as messages give them (positions where the table has none)."""
    if ROW_COLUMN in table.columns and len(table) == count:
        return table[ROW_COLUMN].to_numpy()
    return np.arange(count)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "data"
