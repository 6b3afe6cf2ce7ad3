"""``mmfusion evaluate RUN``: metrics, per-class report, confusion matrix, robustness to absent modalities."""

from __future__ import annotations

from pathlib import Path

import click

from .output import console, print_json, table


@click.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--data", type=click.Path(path_type=Path), default=None,
              help="CSV/TSV/Parquet with the training columns (default: the run's test split).")
@click.option("--image-root", type=click.Path(path_type=Path), default=None,
              help="Folder relative image paths resolve against (default: the data file's folder).")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Report folder (default: RUN/eval/<data>).")
@click.option("--device", default="auto", show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=None)
@click.option("--corrupt", "corrupt", multiple=True, metavar="INPUT:CORRUPTION[=I1,I2,..]",
              help="Robustness curve: corrupt one input at these intensities in [0, 1] (repeatable), e.g. "
              "image:gaussian_noise=0,0.1,0.3 or text:word_dropout.")
@click.option("--robustness-curves", is_flag=True,
              help="Every available corruption of every input at intensities 0, .25, .5, .75, 1.")
@click.option("--baseline", "baselines", multiple=True, type=click.Path(path_type=Path), metavar="RUN",
              help="A run trained on some of this run's inputs (e.g. an ablation's 'text only' run; repeatable): "
              "this run without the inputs it lacks is compared with it on the same rows.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--markdown", "as_markdown", is_flag=True, help="Print the report as markdown.")
@click.option("--on-bad-value", type=click.Choice(["error", "absent"]), default=None,
              help="Unusable values of every input (a missing or unreadable image file, a number that does not "
                   "parse): an error, or treat them as absent (default: the run's data.on_bad_value).")
@click.option("--explain/--no-explain", default=True, show_default=True,
              help="With several inputs: which input decided each row (exact Shapley values over the inputs), summed "
              "up as the reliance on each input overall and per class.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def evaluate(run_dir: Path, data: Path | None, image_root: Path | None, out: Path | None, device: str,
             batch_size: int | None, corrupt: tuple[str, ...], robustness_curves: bool, as_json: bool,
             as_markdown: bool, on_bad_value: str | None, quiet: bool, baselines: tuple[Path, ...],
             explain: bool) -> None:
    """Evaluate the model of RUN_DIR: the task's metrics, per class, and with each modality removed."""
    from ..evaluation.evaluate import evaluate_run

    report = evaluate_run(run_dir, data, out=out, image_root=image_root, device=device, batch_size=batch_size,
                          corruptions=True if robustness_curves else list(corrupt),
                          progress=not (quiet or as_json or as_markdown),
                          on_bad_value=on_bad_value, baselines=baselines, explain=explain)
    if as_json:
        print_json(report.as_dict())
        return
    if as_markdown:
        click.echo(report.to_markdown())
        return
    from ..tasks.definitions import METRICS, metric_title

    metrics = METRICS[report.task]
    screen = console()
    shown = ", ".join(f"{metric_title(m)} {report.metrics[m]:.4f}" for m in metrics)
    screen.print(f"[bold]{report.data}[/bold]: {report.rows} rows — {shown}")
    if report.thresholds:
        tuned = ", ".join(f"{k} {v:g}" for k, v in report.thresholds.items())
        screen.print(f"{report.task}: decision thresholds {tuned}")
    screen.print(table("robustness: modalities removed from every sample", ("condition", *map(metric_title, metrics)),
                       [(r["condition"], *(f"{r[m]:.4f}" for m in metrics)) for r in report.robustness], left=1))
    found = report.calibration
    if found:
        rows = [("as predicted" if "uncalibrated" not in found else "temperature-scaled", found)]
        rows += [("before scaling", found["uncalibrated"])] if "uncalibrated" in found else []
        keys = ("ece", "adaptive_ece", "brier", "log_loss")
        screen.print(table("calibration (lower is better)", ("scores", "ECE", "adaptive ECE", "Brier", "log loss"),
                           [(name, *(f"{r[k]:.4f}" for k in keys)) for name, r in rows], left=1))
    if report.reliance:
        inputs, r = report.reliance["inputs"], report.reliance
        screen.print(table("which input decided: share of the attribution", ("rows of", "rows", *inputs),
                           [(name, str(n), *(f"{share[m]:.1%}" for m in inputs)) for name, n, share in
                            [("all rows", r["rows"], r["share"]),
                             *((c["class"], c["rows"], c["share"]) for c in r["per_class"])]], left=1))
    if report.drift:
        from ..evaluation.report import DRIFT_HEADER, drift_rows

        screen.print(table("drift: inputs against the training inputs", DRIFT_HEADER, drift_rows(report.drift), left=1))
    if report.baselines:
        screen.print(table("losing an input: against runs of the inputs left",
                           ("removed", "without them", "baseline run", "baseline", "Δ", ""),
                           [(", ".join(d["removed"]), f"{d['without']:.4f}", d["baseline"],
                             f"{d['baseline_value']:.4f}", f"{d['difference']:+.4f}", "below" if d["below"] else "ok")
                            for d in report.baselines],
                           left=3))
    if report.gate:
        screen.print(table("quality gate: rows answered without an input",
                           ("input", "rows with it", "dropped", "share"),
                           [(g["input"], str(g["rows"]), str(g["dropped"]), f"{g['share']:.1%}") for g in report.gate],
                           left=1))
    kind = "label" if report.task == "multilabel" else "class"
    classes = [(name, *(f"{report.per_class[name][k]:.3f}" for k in ("precision", "recall", "f1-score")),
                str(int(report.per_class[name]["support"]))) for name in report.labels]
    screen.print(table(f"per {kind}", (kind, "precision", "recall", "F1", "support"), classes, left=1))
    if report.corruption_summary:
        name, key = metric_title(report.headline), report.headline
        screen.print(table(f"robustness curves (relative robustness = mean {name} / clean {name})",
                           ("input", "corruption", "clean", "worst", "mean", "relative"),
                           [(r["modality"], r["corruption"], f"{r[f'clean_{key}']:.4f}", f"{r[f'worst_{key}']:.4f}",
                             f"{r[f'mean_{key}']:.4f}", f"{r['relative_robustness']:.3f}")
                            for r in report.corruption_summary], left=2))
    others = ", ".join(Path(v).name for k, v in report.files.items() if k != "markdown")
    screen.print(f"report: {report.files['markdown']} (and {others})")
