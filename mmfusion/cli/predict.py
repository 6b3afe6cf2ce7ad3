"""``mmfusion predict RUN``: classify one sample (--image/--text/--input) or a table (--csv)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import click

from ..errors import MMFusionError


@click.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--image", default=None, help="Image file for the modality named 'image'.")
@click.option("--text", default=None, help="Text for the modality named 'text'.")
@click.option("--input", "inputs", multiple=True, metavar="MODALITY=VALUE",
              help="A value for any modality (repeatable), e.g. --input photo=cat.png.")
@click.option("--csv", "table", type=click.Path(path_type=Path), default=None,
              help="Classify every row of a CSV/TSV/Parquet file with the training columns.")
@click.option("--output", type=click.Path(path_type=Path), default=None, help="Write results to this file.")
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default=None,
              help="Output format (default: json for one sample, csv for --csv).")
@click.option("--top-k", type=click.IntRange(min=1), default=3, show_default=True,
              help="Labels listed per sample (with --csv: columns top1..topK and their probabilities).")
@click.option("--plot", type=click.Path(path_type=Path), default=None,
              help="PNG with the image beside a bar chart of class probabilities (one sample).")
@click.option("--explain", is_flag=True,
              help="Which input decided: each input's contribution to the chosen label (exact Shapley values over the "
              "inputs, from the model with inputs left out); JSON gains 'explanation', --csv gains "
              "contribution_<input> columns, --plot a panel.")
@click.option("--device", default="auto", show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--backend", type=click.Choice(["torch", "onnx"]), default="torch", show_default=True,
              help="onnx: run the model exported to RUN/export/model.onnx with onnxruntime (exported on first "
              "use; CPU); often several times faster on CPUs.")
@click.option("--quantize", type=click.Choice(["int8"]), default=None,
              help="With --backend onnx: run the int8 model (RUN/export/model.int8.onnx, quantised and checked on "
              "first use).")
def predict(run_dir: Path, image: str | None, text: str | None, inputs: tuple[str, ...], table: Path | None,
            output: Path | None, fmt: str | None, top_k: int, plot: Path | None, explain: bool, device: str,
            batch_size: int, backend: str, quantize: str | None) -> None:
    """Predict labels with their probabilities using the model of RUN_DIR (multilabel: every label at or above
    its threshold; binary: the label the threshold chooses)."""
    from ..prediction.predictor import Predictor

    sample = {name: value for name, value in (("image", image), ("text", text)) if value is not None}
    for item in inputs:
        name, sep, value = item.partition("=")
        if not sep:
            raise MMFusionError(f"--input expects MODALITY=VALUE, got '{item}'")
        sample[name.strip()] = value
    if table is None and not sample:
        raise MMFusionError("nothing to predict: give --image/--text/--input for one sample or --csv FILE")
    if table is not None and sample:
        raise MMFusionError("give either one sample (--image/--text/--input) or --csv, not both")
    from ..io import check_output_file, write_text_atomic

    for option, path in (("--output", output), ("--plot", plot)):
        if path is not None:
            check_output_file(path, option)
    predictor = Predictor(run_dir, device=device, batch_size=batch_size, backend=backend, quantize=quantize)
    if table is not None:
        from ..inference.drift import DriftTally

        drift = DriftTally(predictor.drift or {})
        rows = _stream_table(predictor.iter_predict_table(table, top_k=top_k, explain=explain), fmt or "csv", output,
                             drift)
        if output is not None:
            click.echo(f"wrote {rows} predictions to {output}", err=True)
        _drift_summary(drift)
        return
    prediction = predictor.predict([sample], top_k=top_k, root=Path.cwd(), explain=explain)[0]
    if fmt == "csv" and prediction.task == "multilabel":
        thresholds = prediction.thresholds or {}
        lines = ["label,probability,threshold", *(f"{label},{prediction.probabilities[label]:.6f},"
                                                  f"{thresholds[label]:g}" for label in prediction.labels)]
    elif fmt == "csv":
        shown = [(prediction.label, prediction.probability)] if prediction.task == "binary" else prediction.top
        lines = ["label,probability", *(f"{label},{p:.6f}" for label, p in shown)]
    else:
        lines = [json.dumps(prediction.as_dict(), indent=2)]
    if explain and fmt == "csv":
        found = prediction.explanation or {}
        lines += ["", "input,contribution", *(f"{m},{v:.6f}" for m, v in found.get("contributions", {}).items()),
                  f"(no input),{found.get('baseline', 0.0):.6f}"]
    if output is None:
        sys.stdout.write("\n".join(lines) + "\n")
    else:  # atomically: its folder is created, and a full disk is a clear error
        write_text_atomic(output, "\n".join(lines) + "\n")
    if plot is not None:
        from PIL import Image

        from ..interfaces.image_modes import to_rgb
        from ..plots import prediction_plot

        picture = None
        image_value = sample.get("image")
        if image_value and Path(image_value).is_file():
            with Image.open(image_value) as opened:
                picture = to_rgb(opened)
        probabilities = [prediction.probabilities[label] for label in predictor.labels]
        prediction_plot(picture, sample.get("text"), predictor.labels, probabilities, plot,
                        explanation=prediction.explanation)
        click.echo(f"wrote {plot}", err=True)


def _without_image_bytes(table: Any) -> Any:
    """Image cells holding encoded bytes (Parquet, Hugging Face's {bytes, path} struct) shown by their path, or as
    ``<image: N bytes>``: CSV would dump the bytes and JSON cannot hold them."""
    from collections.abc import Mapping

    def shown(cell: Any) -> Any:
        if isinstance(cell, Mapping) and {"bytes", "path"} >= set(cell):
            data = cell.get("bytes")
            return cell.get("path") or (f"<image: {len(data)} bytes>" if isinstance(data, bytes) else None)
        return f"<image: {len(cell)} bytes>" if isinstance(cell, (bytes, bytearray)) else cell

    for column in table.columns:
        if table[column].dtype == object:
            table[column] = table[column].map(shown)
    return table


def _drift_summary(drift: Any) -> None:
    """On stderr: each input's drift over the whole table, and a warning for each that drifted."""
    for found in drift.report(warn=lambda message: click.echo(f"warning: {message}", err=True)):
        beyond = "" if found.beyond_range != found.beyond_range else f", {found.beyond_range:.1%} beyond their range"
        click.echo(f"drift of input '{found.input}' over {found.rows} rows: AUROC {found.auroc:.3f} against the "
                   f"training rows{beyond} (median row at percentile {found.median_percentile:.2f})", err=True)


def _stream_table(chunks: Iterable[Any], fmt: str, output: Path | None, drift: Any = None) -> int:
    """Write predicted chunks as they come (memory holds one chunk): to stdout, or to ``output`` through a temporary
    file renamed into place at the end, so an error half-way leaves no partial file. Returns the rows written;
    ``drift`` (a :class:`~mmfusion.inference.drift.DriftTally`) counts the chunks' drift columns."""
    from ..io import write_atomic
    from ..prediction.tables import DRIFT_PREFIX, table_text

    rows = 0

    def counted() -> Iterator[Any]:
        nonlocal rows
        for chunk in chunks:
            rows += len(chunk)
            for name in drift.references if drift is not None else ():
                drift.add(name, chunk[f"{DRIFT_PREFIX}{name}"].to_numpy(dtype=float))
            yield _without_image_bytes(chunk)

    if output is None:
        for text in table_text(counted(), fmt):
            sys.stdout.write(text)
        return rows

    def write(path: str) -> None:
        with open(path, "w", encoding="utf-8") as handle:
            for text in table_text(counted(), fmt):
                handle.write(text)

    write_atomic(output, write)
    return rows

