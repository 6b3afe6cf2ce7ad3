"""ONNX and TorchScript export of a run, with a JSON sidecar and a numerical check against PyTorch."""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..errors import MMFusionError
from ..io import ensure_folder, write_atomic, write_json_atomic
from ..model.batch import Batch
from ..model.peft import adapters_merged
from ..run.load import LoadedRun, load_run
from .metadata import export_metadata
from .wrapper import TensorInterface, flatten, interface_for, variable_axes

FORMATS = ("onnx", "torchscript")


@dataclass
class ExportResult:
    path: Path
    metadata_path: Path
    format: str
    seconds: float
    max_abs_diff: dict[str, float] = field(default_factory=dict)


def _onnx(interface: TensorInterface, example: list[torch.Tensor], axes: list[dict[int, str]], path: Path,
          opset: int | None) -> None:
    try:
        import onnxscript  # noqa: F401  (the torch.export-based exporter needs it)
        from torch.export import Dim
    except ImportError:
        raise MMFusionError("ONNX export needs onnx and onnxscript: pip install 'mmfusion[export]'") from None
    # one Dim per axis name: tensors whose axes share a name (the batch) must agree on it
    dims = {name: Dim(name.replace(".", "_"), min=1, max=65536) for names in axes for name in names.values()}
    shapes = [{axis: dims[name] for axis, name in tensor_axes.items()} for tensor_axes in axes]
    kwargs = {"opset_version": opset} if opset else {}
    program = torch.onnx.export(interface, tuple(example), None, dynamo=True, input_names=interface.input_names,
                                output_names=["logits"], dynamic_shapes=(tuple(shapes),), **kwargs)
    write_atomic(path, lambda tmp: program.save(tmp, external_data=False))


def _torchscript(interface: TensorInterface, example: list[torch.Tensor], path: Path) -> None:
    traced = torch.jit.trace(interface, tuple(example), check_trace=False, strict=False)
    buffer = io.BytesIO()  # torch.jit.save aborts the process when the disk is full: serialise in memory first
    torch.jit.save(traced, buffer)
    write_atomic(path, lambda tmp: Path(tmp).write_bytes(buffer.getvalue()))


def _run_exported(fmt: str, path: Path, names: list[str], batch: Batch, tensors: list[torch.Tensor]) -> np.ndarray:
    if fmt == "onnx":  # the inference engine's ONNX backend, as prediction runs it
        import onnxruntime as ort

        from ..inference.backends import OnnxBackend

        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return OnnxBackend(session, names)(batch)[0].numpy()
    module = torch.jit.load(str(path))
    with torch.inference_mode():
        return module(*tensors).numpy()


def verify_export(fmt: str, path: Path, interface: TensorInterface, model) -> dict[str, float]:  # type: ignore
    """Largest |exported − PyTorch| logit difference on batches with every modality and with one absent."""
    from ..model.featurizer import example_batch

    diffs = {}
    for name, batch in (("all present", example_batch(model, 5, with_absent=False, seed=1)),
                        ("some absent", example_batch(model, 5, with_absent=True, seed=2))):
        tensors = flatten(batch, interface.layout)
        with torch.inference_mode():
            expected = interface(*tensors).numpy()
        try:
            got = _run_exported(fmt, path, interface.input_names, batch, tensors)
        except ImportError:
            raise MMFusionError("checking the ONNX file needs onnxruntime: pip install onnxruntime "
                                "(or export with --no-verify)") from None
        diffs[name] = float(np.abs(got - expected).max())
    return diffs


def export_run(run: str | Path | LoadedRun, fmt: str, out: str | Path | None = None, *, opset: int | None = None,
               verify: bool = True, tolerance: float = 1e-3) -> ExportResult:
    """Export a run's model; writes the model file and ``<file>.json`` (labels, inputs, preprocessing). Encoders
    adapted with ``peft:`` are exported with their adapters merged into the weights, and checked against the
    unmerged model.

    Raises:
        MMFusionError: unknown format, a component that cannot be exported, or outputs that differ
            from PyTorch by more than ``tolerance``.
    """
    if fmt not in FORMATS:
        raise MMFusionError(f"unknown export format '{fmt}'; choose one of {', '.join(FORMATS)}")
    loaded = run if isinstance(run, LoadedRun) else load_run(run, device="cpu")
    model = loaded.model.to("cpu").eval()
    for encoder in model.encoders.values():
        encoder.to(memory_format=torch.contiguous_format)
    path = Path(out) if out else loaded.paths.root / "export" / ("model.onnx" if fmt == "onnx" else "model.pt")
    ensure_folder(path.parent)
    interface, batch = interface_for(model)
    example = flatten(batch, interface.layout)
    axes = variable_axes(batch, interface.layout)
    started = time.perf_counter()
    try:
        with adapters_merged(model):  # peft's adapters folded into plain layers: the file holds no peft code
            if fmt == "onnx":
                _onnx(interface, example, axes, path, opset)
            else:
                _torchscript(interface, example, path)
    except MMFusionError:
        raise
    except Exception as exc:
        kinds = ", ".join(f"{m}: {e.config.type}" for m, e in model.encoders.items())
        raise MMFusionError(
            f"exporting to {fmt} failed ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
            f"components: {kinds}, fusion {model.fusion.config.type}, head {model.head.config.type}. "
            "See docs/export.md for what can be exported.") from exc
    seconds = time.perf_counter() - started
    metadata_path = path.with_suffix(path.suffix + ".json")
    diffs = verify_export(fmt, path, interface, model) if verify else {}
    worst = max(diffs.values(), default=0.0)
    if worst > tolerance:  # no JSON beside it: `predict --backend onnx` exports again rather than use it
        metadata_path.unlink(missing_ok=True)
        raise MMFusionError(f"the exported {fmt} model's logits differ from PyTorch by up to {worst:.2e} "
                            f"(tolerance {tolerance:g}); do not use it")
    write_json_atomic(metadata_path, export_metadata(loaded, interface, axes, fmt, path.name))
    return ExportResult(path, metadata_path, fmt, seconds, diffs)
