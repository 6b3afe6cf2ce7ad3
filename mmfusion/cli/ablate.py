"""``mmfusion ablate SWEEP``: run fusion variants × seeds and report whether fusion pays."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("sweep_file", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Output folder (default: runs/ablate-<sweep name>). Re-running continues where it stopped.")
@click.option("--device", default="auto", show_default=True)
@click.option("--quiet", is_flag=True, help="No progress bars.")
def ablate(sweep_file: Path, out: Path | None, device: str, quiet: bool) -> None:
    """Train and evaluate every variant of SWEEP_FILE for every seed; write results.csv/.md, confidence intervals,
    paired tests, per-class and per-group tables, plots and the best variant's spec."""
    from ..sweep.runner import run_sweep
    from .output import console

    result = run_sweep(sweep_file, out, device=device, progress=not quiet)
    out_console = console()
    out_console.print((Path(result.files["markdown"])).read_text(encoding="utf-8"), markup=False)
    out_console.print(f"[green]✓[/green] {len(result.records)} runs ({result.skipped} done before) in "
                      f"{result.wall_seconds:.0f}s; results in {result.out_dir} "
                      "(results.md, results.csv, results_summary.csv, per_class.csv, results.png; the best variant's "
                      "spec, ready to train: best_spec.yaml)")
