"""Running a sweep: every variant × seed, sharing the feature cache, skipping what is already done."""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..data.tables import PreparedTables, prepare_tables, source_tables
from ..errors import MMFusionError, SpecError
from ..evaluation.evaluate import evaluate_run
from ..interfaces.dataset import DatasetTables
from ..io import write_json_atomic, write_text_atomic
from ..model.summary import summarize
from ..progress import Reporter
from ..registry import Registry
from ..run.errors import UnreadableFile
from ..run.files import parse_json
from ..run.layout import RunPaths
from ..run.load import load_run
from ..runtime.devices import resolve_device
from ..spec.data_spec import DataSpec
from ..spec.spec import Spec
from ..tasks.definitions import HEADLINE, METRICS, metric_title
from ..training.trainer import Trainer
from .groups import check_groups, group_values
from .report import best_variant, write_reports
from .spec import load_sweep, slug
from .stats import t_interval
from .storage import DEFAULT_HEARTBEAT
from .variants import all_variants, baseline_variants, check_variants_build, variant_spec

RECORD = "ablation.json"
SPEC_DIGEST = "variant-spec.sha256"
BEST_SPEC = "best_spec.yaml"


@dataclass
class SweepResult:
    """Where the sweep wrote its outputs and one record per (variant, seed) run."""

    out_dir: Path
    records: list[dict[str, Any]]
    files: dict[str, str] = field(default_factory=dict)
    skipped: int = 0
    wall_seconds: float = 0.0


def run_sweep(sweep_file: str | Path, out: str | Path | None = None, *, device: str = "auto",
              progress: bool = True, registry: Registry | None = None, storage: str | None = None,
              study_name: str | None = None, heartbeat: int = DEFAULT_HEARTBEAT) -> SweepResult:
    """Train and evaluate every variant of a sweep file for every seed, then write the reports.

    Runs whose ``ablation.json`` and predictions exist are skipped, interrupted trainings resume, so running
    the same command again continues an interrupted sweep. Each data source is read once; a run trained now is
    evaluated in memory, reusing its test report's predictions. The best variant's spec is written to
    ``best_spec.yaml``.

    With ``storage`` (a study database URL; see :mod:`mmfusion.sweep.queue`) this process is one of several
    workers: the runs are queued in an Optuna study and each worker takes the next one, until none is left and no
    other worker is still training; every worker then writes the same reports from all runs' records. The output
    folder must be the same for all of them (a shared filesystem across machines).
    """
    started = time.perf_counter()
    reporter = Reporter(progress)
    sweep = load_sweep(sweep_file)
    base, variants = all_variants(sweep, registry)
    out_dir = Path(out) if out else Path("runs") / f"ablate-{slug(Path(sweep_file).stem)}"
    folder = Path(sweep_file).resolve().parent
    specs = {(v.name, seed): variant_spec(base, v, seed, registry, base_dir=folder)
             for v in variants for seed in sweep.seeds}
    check_variants_build({v.name: specs[(v.name, sweep.seeds[0])] for v in variants}, registry)
    tables = SourceTables(registry)
    prepared = tables(base.data)
    if "test" not in prepared.tables:
        raise SpecError(f"the base spec {sweep.base} has no test data (data.source test table or data.split.test); "
                        "an ablation reports test metrics")
    task = prepared.task
    rank_by = sweep.rank_by or HEADLINE[task]
    if rank_by not in METRICS[task]:
        raise SpecError(f"{sweep_file}: rank_by: {rank_by} is not a metric of {task} data "
                        f"({prepared.task_reason}); choose one of {', '.join(METRICS[task])}")
    check_groups(sweep.report, prepared, str(sweep_file))
    total = len(specs)
    done_before: list[tuple[str, int]] = []

    def run_one(name: str, seed: int, label: str, lock_holder_gone: str | None = None) -> dict[str, Any]:
        """Train (or resume) and evaluate one variant × seed, unless its record is already there."""
        spec = specs[(name, seed)]
        run_dir = out_dir / "runs" / slug(name) / f"seed-{seed}"
        record_path = run_dir / RECORD
        digest = _check_same_spec(run_dir, spec, name, seed)
        record = _finished_record(record_path)
        if record is not None:
            done_before.append((name, seed))
            reporter.log(f"[{label}] {name} (seed {seed}): done before, skipped")
            return {**record, "run_dir": str(run_dir)}  # where it is now, should the sweep move
        reporter.log(f"[{label}] {name} (seed {seed}) → {run_dir}")
        run_started = time.perf_counter()
        paths = RunPaths(run_dir)
        run_tables = tables(spec.data)
        trained = None  # a run trained before an interruption (or whose predictions were deleted) is read back
        if not paths.summary.exists():
            trained = Trainer(spec, run_dir, device=device, resume=paths.last_checkpoint.exists(),
                              progress=progress, tables=run_tables, registry=registry,
                              lock_holder_gone=lock_holder_gone).fit()
        corruptions = sweep.evaluate.corruptions
        if not isinstance(corruptions, bool):  # single-input baselines skip curves of inputs they lack
            corruptions = [c for c in corruptions if c.split(":", 1)[0] in spec.model.encoders]
        run = trained.run if trained else load_run(run_dir, device=resolve_device(device), registry=registry)
        report = evaluate_run(run, device=device, corruptions=corruptions, progress=progress, registry=registry,
                              prepared=run_tables, test_predictions=trained.test_predictions if trained else None)
        summary = trained.summary if trained else run.summary  # a damaged summary.json: {} (with a warning)
        without = {r["condition"].removeprefix("without "): {m: r[m] for m in METRICS[task]}
                   for r in report.robustness if r["condition"].startswith("without ")}
        record = {
            "variant": name, "seed": seed, "run_dir": str(run_dir), "inputs": list(spec.model.encoders),
            "spec_digest": digest, "task": task,
            "accuracy": report.accuracy, "macro_f1": report.macro_f1, "metrics": report.metrics,
            "ece": report.calibration.get("ece"),
            "without": {m: values[rank_by] for m, values in without.items()}, "without_metrics": without,
            **_sizes(summary, run.model), "train_seconds": summary.get("train_seconds", math.nan),
            "wall_seconds": round(time.perf_counter() - run_started, 2),
            "corruption_curves": report.corruption_curves, "corruption_summary": report.corruption_summary,
            "predictions": _relative(report.files["predictions"], run_dir), "per_class": report.per_class,
        }
        write_json_atomic(record_path, record)
        reporter.log("    " + ", ".join(f"{metric_title(m)} {report.metrics[m]:.4f}" for m in METRICS[task]))
        return record

    if storage is None:
        records = [run_one(name, seed, f"{index}/{total}") for index, (name, seed) in enumerate(specs, start=1)]
    else:
        from .queue import run_shared

        keys = {run_key(name, seed): (name, seed) for name, seed in specs}
        digest = sweep_digest(sweep, specs, rank_by)
        failed = run_shared(storage, study_name or f"ablate-{slug(Path(sweep_file).stem)}", keys,
                            lambda key, label, gone: run_one(*keys[key], label, gone)["metrics"][rank_by],
                            digest=digest, source=str(sweep_file), out_dir=out_dir, reporter=reporter,
                            heartbeat=heartbeat)
        records = _shared_records(out_dir, specs, failed)
    skipped = len(done_before)
    order = [v.name for v in variants]
    members = [b.name for b in baseline_variants(base)] if sweep.baselines else []
    files = write_reports(out_dir, records, order, list(base.model.encoders), task, rank_by, ensemble_of=members,
                          groups=group_values(sweep.report, prepared), resamples=sweep.report.resamples)
    files["best_spec"] = str(write_best_spec(out_dir, records, order, specs, sweep.seeds[0], rank_by, sweep_file))
    return SweepResult(out_dir, records, files, skipped, time.perf_counter() - started)


def run_key(name: str, seed: int) -> str:
    """A run's name in a shared study's queue (its folder under ``runs/``)."""
    return f"{slug(name)}/seed-{seed}"


def sweep_digest(sweep: Any, specs: dict[tuple[str, int], Spec], rank_by: str) -> str:
    """What makes a shared sweep the same experiment: every run's spec, and how the runs are evaluated."""
    what = {"runs": {run_key(n, s): spec_digest(spec) for (n, s), spec in specs.items()}, "rank_by": rank_by,
            "evaluate": sweep.evaluate.model_dump(mode="json")}
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()


def _shared_records(out_dir: Path, specs: dict[tuple[str, int], Spec],
                    failed: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Every run's record, as the workers wrote them (``failed``: the reasons of runs that failed).

    Raises:
        MMFusionError: some runs have no record (they failed in a worker); running the command again retries them.
    """
    records, missing = [], []
    for name, seed in specs:
        run_dir = out_dir / "runs" / slug(name) / f"seed-{seed}"
        record = _finished_record(run_dir / RECORD)
        if record is None:
            missing.append(run_key(name, seed))
        else:
            records.append({**record, "run_dir": str(run_dir)})
    if missing:
        reasons = "".join(f"\n  {key}: {(failed or {})[key]}" for key in missing if key in (failed or {}))
        raise MMFusionError(f"{len(missing)} run(s) of the sweep have no results: {', '.join(missing)} (they failed "
                            f"in a worker, whose output says why){reasons}\nrun the command again to retry them")
    return records


def write_best_spec(out_dir: Path, records: list[dict[str, Any]], order: list[str],
                    specs: dict[tuple[str, int], Spec], seed: int, rank_by: str, sweep_file: str | Path) -> Path:
    """``best_spec.yaml``: the full spec of the best variant (first seed), which ``mmfusion train`` takes as is."""
    from ..spec.loader import spec_to_yaml

    name = best_variant(records, order, rank_by)
    values = [r["metrics"][rank_by] for r in records if r["variant"] == name]
    mean, low, high = t_interval(values)
    spread = "" if math.isnan(high) else f" [95 % CI {low:.4f}, {high:.4f}]"
    header = (f"# The best variant of {Path(sweep_file).name}: '{name}', test {metric_title(rank_by)} {mean:.4f}"
              f"{spread} over {len(values)} seed(s).\n# Its full spec (train.seed: {seed}); train it as it is:\n"
              f"#   mmfusion train {out_dir / BEST_SPEC}\n")
    path = out_dir / BEST_SPEC
    write_text_atomic(path, header + spec_to_yaml(specs[(name, seed)]))
    return path


def _relative(path: str, run_dir: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(run_dir.resolve()))
    except ValueError:
        return str(Path(path).resolve())


class SourceTables:
    """Each data source of a sweep read once, and its tables prepared once per distinct ``data:`` section."""

    def __init__(self, registry: Registry | None) -> None:
        self.registry = registry
        self.read: dict[str, DatasetTables] = {}
        self.prepared: dict[str, PreparedTables] = {}

    def __call__(self, data: DataSpec | None) -> PreparedTables:
        assert data is not None  # variant_spec checks the base spec has a data section
        key = data.model_dump_json()
        if key not in self.prepared:
            source = data.source.model_dump_json() if data.source is not None else ""
            if source not in self.read:
                self.read[source] = source_tables(data, self.registry)
            self.prepared[key] = prepare_tables(data, self.read[source])
        return self.prepared[key]


def _sizes(summary: dict[str, Any], model: Any) -> dict[str, int]:
    """The run's parameter counts: the summary's, or counted from the model when summary.json was damaged."""
    if isinstance(summary.get("parameters"), int) and isinstance(summary.get("trainable_parameters"), int):
        return {"trainable_parameters": summary["trainable_parameters"], "parameters": summary["parameters"]}
    rows = summarize(model)
    return {"trainable_parameters": sum(r.trainable for r in rows), "parameters": sum(r.parameters for r in rows)}


def _finished_record(path: Path) -> dict[str, Any] | None:
    """A run's ``ablation.json`` when it is intact and its predictions are still there; None: evaluate it again."""
    try:
        record = parse_json(path) if path.exists() else None
    except UnreadableFile:
        return None
    predictions = record.get("predictions") if isinstance(record, dict) else None
    if not isinstance(predictions, str) or not (path.parent / predictions).is_file():
        return None
    return record


def spec_digest(spec: Spec) -> str:
    """SHA-256 of the spec's JSON form (keys sorted): a run folder belongs to the variant spec it was made with."""
    return hashlib.sha256(json.dumps(spec.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()


def _check_same_spec(run_dir: Path, spec: Spec, name: str, seed: int) -> str:
    """The digest of a variant's spec, written into its run folder the first time; a later sweep whose variant
    differs (an edited ``set:``) must not reuse or resume that run under other settings.

    Raises:
        SpecError: the folder holds a run of a different spec, or files of no sweep's run.
    """
    digest = spec_digest(spec)
    marker = run_dir / SPEC_DIGEST
    if marker.exists():
        if marker.read_text(encoding="utf-8").strip() != digest:
            raise SpecError(f"{run_dir} holds a run of variant '{name}' (seed {seed}) with a different spec than the "
                            "sweep now asks for; use another --out, or delete that folder to rerun it")
    elif run_dir.is_dir() and any(run_dir.iterdir()):
        raise SpecError(f"{run_dir} holds files but no {SPEC_DIGEST}: it is not a run this sweep started, and "
                        "reusing it could mix settings; use another --out, or delete that folder to run it")
    else:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_text_atomic(marker, digest + "\n")
    return digest
