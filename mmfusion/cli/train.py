"""``mmfusion train SPEC``: fit a spec, writing a run directory."""

from __future__ import annotations

import os
from pathlib import Path

import click

from ..runtime.devices import DEVICE_CHOICES


def default_run_dir(spec_file: Path, resume: bool) -> Path:
    """runs/<spec name>, or runs/<spec name>-N for a new run when that exists (resume: the latest)."""
    base = Path("runs") / spec_file.stem
    candidates = [base] + [base.with_name(f"{base.name}-{n}") for n in range(2, 1000)]
    existing = [c for c in candidates if c.exists() and any(c.iterdir())]
    if resume:
        return existing[-1] if existing else base
    return next(c for c in candidates if c not in existing)


@click.command()
@click.argument("spec_file", type=click.Path(path_type=Path))
@click.option("--device", default="auto", show_default=True, help=f"One of {', '.join(DEVICE_CHOICES)} (or cuda:N).")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Run directory (default: runs/<spec name>, numbered if taken).")
@click.option("--resume", is_flag=True, help="Continue the run in --out after its last finished epoch.")
@click.option("--quiet", is_flag=True, help="No progress bars or status lines.")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="CPU threads for the training loop (overrides train.threads; default: chosen per run).")
def train(spec_file: Path, device: str, out: Path | None, resume: bool, quiet: bool, threads: int | None) -> None:
    """Train the model of SPEC_FILE on its data; writes weights, metrics and plots to a run directory."""
    from ..spec import load_spec
    from ..training.trainer import Trainer
    from .output import console

    spec = load_spec(spec_file)
    run_dir = out or default_run_dir(spec_file, resume)
    result = Trainer(spec, run_dir, device=device, resume=resume, progress=not quiet, threads=threads).fit()
    if os.environ.get("RANK", "0") != "0":  # under torchrun only the first process reports
        return
    out_console = console()
    best = f"{result.best_metric:.4f}" if result.best_metric is not None else "n/a"
    monitor = result.summary.get("monitor") or spec.train.monitor
    out_console.print(f"[green]✓[/green] trained {len(result.history)} epoch(s); best {monitor} {best} "
                      f"at epoch {result.best_epoch}")
    if result.test_metrics:
        from ..tasks.definitions import METRICS, metric_title

        task = result.summary.get("task", "multiclass")
        shown = ", ".join(f"{metric_title(m)} {result.test_metrics[m]:.4f}" for m in METRICS[task]
                          if m in result.test_metrics)
        out_console.print(f"  test {shown}")
    out_console.print(f"  run directory: {result.run_dir}  (metrics.csv, summary.json, plots/)")
