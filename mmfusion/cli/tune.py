"""``mmfusion tune TUNE_FILE``: search a spec's settings with Optuna; several workers may share one study."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("tune_file", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Output folder (default: runs/tune-<file name>): trial runs, tables, plots, best_spec.yaml and, "
                   "without --storage, the study itself (study.db).")
@click.option("--storage", default=None, metavar="URL",
              help="The study's database: sqlite:///path.db or postgresql://user:password@host/db. Workers given "
                   "the same storage, study and --out share the trials. Default: sqlite in --out.")
@click.option("--study", "study_name", default=None, help="Study name in the storage (default: tune-<file name>).")
@click.option("--device", default="auto", show_default=True)
@click.option("--timeout", type=float, default=None, help="Stop starting trials after this many seconds.")
@click.option("--heartbeat", type=click.IntRange(min=1), default=30, show_default=True,
              help="Seconds between a running trial's heartbeats; a trial silent for three of them is run again.")
@click.option("--quiet", is_flag=True, help="No progress display.")
def tune(tune_file: Path, out: Path | None, storage: str | None, study_name: str | None, device: str,
         timeout: float | None, heartbeat: int, quiet: bool) -> None:
    """Search the space of TUNE_FILE (ranges and choices over any spec key) for the best validation metric,
    pruning trials that fall behind; running it again continues the study."""
    from ..search.runner import tune as run_tune
    from .output import console

    result = run_tune(tune_file, out, storage=storage, study_name=study_name, device=device, progress=not quiet,
                      heartbeat=heartbeat, timeout=timeout)
    out_console = console()
    out_console.print(Path(result.files["markdown"]).read_text(encoding="utf-8"), markup=False)
    if result.best_trial is None:
        out_console.print(f"[yellow]no trial has finished yet[/yellow]; results in {result.out_dir}")
        return
    values = ", ".join(f"{k}={v}" for k, v in result.best_params.items())
    out_console.print(f"[green]✓[/green] best: trial {result.best_trial}, {result.metric} {result.best_value:.4f} "
                      f"({values}); {len(result.rows)} trials in {result.out_dir} (trials.md, trials.csv, "
                      f"history.png, importance.png, epochs.png; the best spec, ready to train: best_spec.yaml)")
