"""``mmfusion export RUN``: an ONNX or TorchScript model plus a JSON with labels and preprocessing."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import MMFusionError


@click.command("export")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["onnx", "torchscript"]), default="onnx", show_default=True)
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Model file (default: RUN/export/model.onnx or model.pt).")
@click.option("--opset", type=int, default=None, help="ONNX opset (default: the exporter's).")
@click.option("--no-verify", is_flag=True, help="Skip comparing the exported model's outputs with PyTorch.")
@click.option("--quantize", type=click.Choice(["int8"]), default=None,
              help="Also write an int8 model beside the ONNX one (<file>.int8.onnx): MatMul/Gemm weights in int8, "
              "checked for speed and validation accuracy against fp32.")
@click.option("--max-accuracy-drop", type=click.FloatRange(min=0), default=0.5, show_default=True,
              help="With --quantize: refuse the int8 model if it loses more validation accuracy than this, in points.")
def export(run_dir: Path, fmt: str, out: Path | None, opset: int | None, no_verify: bool, quantize: str | None,
           max_accuracy_drop: float) -> None:
    """Export the model of RUN_DIR: inputs are preprocessed tensors and presence masks, output logits."""
    from ..export.exporters import export_run
    from ..run.load import load_run

    if quantize and fmt != "onnx":
        raise MMFusionError(f"--quantize {quantize} quantises an ONNX model: use it with --format onnx")
    run = load_run(run_dir, device="cpu")
    result = export_run(run, fmt, out, opset=opset, verify=not no_verify)
    click.echo(f"wrote {result.path} ({result.seconds:.1f}s) and {result.metadata_path}")
    for case, diff in result.max_abs_diff.items():
        click.echo(f"  {case}: max |{fmt} − PyTorch| logit difference {diff:.2e}")
    if quantize:
        from ..export.quantize import quantize_run

        q = quantize_run(run, result.path, max_accuracy_drop=max_accuracy_drop)
        click.echo(f"wrote {q.path} ({q.seconds:.1f}s) and {q.metadata_path}: {q.weights['int8_share']:.0%} of the "
                   f"weights in int8; {q.speed['speedup']:.2f}× fp32's speed on {q.speed['batch']} samples here")
        convs = q.convolutions
        if convs.get("convolutions"):
            kept = f"the first {convs['fp32_first']} kept fp32, " if convs["int8"] and convs["fp32_first"] else ""
            click.echo(f"  convolutions: {convs['int8']} of {convs['convolutions']} in int8 ({kept}calibrated on "
                       f"{convs['calibration_rows']} training rows)" if convs["int8"]
                       else f"  convolutions: all {convs['convolutions']} in fp32 ({convs.get('reason', '')})")
        check = q.validation
        if check["checked"]:
            click.echo(f"  validation ({check['rows']} rows): {check['metric']} fp32 {check['fp32']:.4f}, int8 "
                       f"{check['int8']:.4f}; predictions agree on {check['agreement']:.1%}")
