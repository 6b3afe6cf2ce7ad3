"""``mmfusion ablate SWEEP``: run fusion variants × seeds and report whether fusion pays."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("sweep_file", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Output folder (default: runs/ablate-<sweep name>). Re-running continues where it stopped.")
@click.option("--device", default="auto", show_default=True)
@click.option("--storage", default=None, metavar="URL",
              help="Share the runs with other workers through this study database (sqlite:///path.db or "
                   "postgresql://user:password@host/db): each run is trained once, by whichever worker takes it. "
                   "Give every worker the same SWEEP_FILE, --out and --storage.")
@click.option("--study", "study_name", default=None,
              help="With --storage: the study's name (default: ablate-<sweep file name>).")
@click.option("--heartbeat", type=click.IntRange(min=1), default=None,
              help="With --storage: seconds between a run's heartbeats (default 30); a run silent for three of them "
                   "(its worker died) is taken over by another worker.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def ablate(sweep_file: Path, out: Path | None, device: str, storage: str | None, study_name: str | None,
           heartbeat: int | None, quiet: bool) -> None:
    """Train and evaluate every variant of SWEEP_FILE for every seed; write results.csv/.md, confidence intervals,
    paired tests, per-class and per-group tables, plots and the best variant's spec."""
    from ..sweep.runner import run_sweep
    from .output import console

    if storage is None and (study_name is not None or heartbeat is not None):
        raise click.UsageError("--study and --heartbeat are for a sweep shared through --storage; give --storage too")
    result = run_sweep(sweep_file, out, device=device, progress=not quiet, storage=storage, study_name=study_name,
                       heartbeat=heartbeat or 30)
    out_console = console()
    out_console.print((Path(result.files["markdown"])).read_text(encoding="utf-8"), markup=False)
    out_console.print(f"[green]✓[/green] {len(result.records)} runs ({result.skipped} done before) in "
                      f"{result.wall_seconds:.0f}s; results in {result.out_dir} "
                      "(results.md, results.csv, results_summary.csv, per_class.csv, results.png; the best variant's "
                      "spec, ready to train: best_spec.yaml)")
