"""``mmfusion export RUN``: an ONNX or TorchScript model plus a JSON with labels and preprocessing."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("export")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["onnx", "torchscript"]), default="onnx", show_default=True)
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Model file (default: RUN/export/model.onnx or model.pt).")
@click.option("--opset", type=int, default=None, help="ONNX opset (default: the exporter's).")
@click.option("--no-verify", is_flag=True, help="Skip comparing the exported model's outputs with PyTorch.")
def export(run_dir: Path, fmt: str, out: Path | None, opset: int | None, no_verify: bool) -> None:
    """Export the model of RUN_DIR: inputs are preprocessed tensors and presence masks, output logits."""
    from ..export.exporters import export_run

    result = export_run(run_dir, fmt, out, opset=opset, verify=not no_verify)
    click.echo(f"wrote {result.path} ({result.seconds:.1f}s) and {result.metadata_path}")
    for case, diff in result.max_abs_diff.items():
        click.echo(f"  {case}: max |{fmt} − PyTorch| logit difference {diff:.2e}")
