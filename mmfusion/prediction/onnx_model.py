"""``OnnxModel``: a run's model exported to ONNX (fp32, or quantised to int8), kept in step with its weights."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from ..errors import DataError, MMFusionError
from ..run.files import UnreadableFile, parse_json
from ..run.load import LoadedRun


class OnnxModel:
    """The run's model exported to ONNX (RUN/export/model.onnx, made on first use), run by onnxruntime.

    The file is derived from the run's weights, so a damaged one (truncated, not ONNX, its JSON unreadable,
    inputs or labels that no longer match) is exported again with a warning rather than failing. The int8
    model (RUN/export/model.int8.onnx, quantised from model.onnx) lives beside it and heals the same way.
    """

    def __init__(self, session: Any, input_names: list[str], info: dict[str, Any] | None = None) -> None:
        self.session = session
        self.input_names = input_names
        #: the model's JSON (labels, inputs; for int8, ``quantization``: what was quantised and how it measured)
        self.info = info or {}

    @classmethod
    def for_run(cls, run: LoadedRun, quantize: str | None = None) -> OnnxModel:
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            raise DataError("backend onnx needs onnxruntime: pip install 'mmfusion[export]'") from None
        path = run.paths.root / "export" / "model.onnx"
        return cls._int8(run, path) if quantize == "int8" else cls._fp32(run, path)

    @classmethod
    def _fp32(cls, run: LoadedRun, path: Path) -> OnnxModel:
        from ..export.exporters import export_run

        meta = path.with_suffix(".onnx.json")
        if _fresh(path, meta, run):
            try:
                return cls._open(path, meta, run)
            except _BrokenExport as exc:
                warnings.warn(f"{exc}; exporting it again from {run.paths.weights.name}", stacklevel=4)
        export_run(run, "onnx", path)
        try:
            return cls._open(path, meta, run)
        except _BrokenExport as exc:
            raise MMFusionError(f"{exc}, right after exporting it; delete {path.parent} and try again") from None

    @classmethod
    def _int8(cls, run: LoadedRun, fp32: Path) -> OnnxModel:
        from ..export.quantize import int8_path, quantize_run

        path = int8_path(fp32)
        meta = path.with_suffix(".onnx.json")
        if _fresh(path, meta, run):
            try:
                model = cls._open(path, meta, run, int8=True)
            except _BrokenExport as exc:
                warnings.warn(f"{exc}; quantising it again from {fp32.name}", stacklevel=4)
            else:  # what quantising warned about still holds for this file
                for note in model.info["quantization"].get("warnings") or []:
                    warnings.warn(f"{path.name} (quantised earlier): {note}", stacklevel=4)
                return model
        cls._fp32(run, fp32)  # an intact fp32 export of the current weights to quantise (made or healed here)
        quantize_run(run, fp32, path)
        try:
            return cls._open(path, meta, run, int8=True)
        except _BrokenExport as exc:
            raise MMFusionError(f"{exc}, right after quantising it; delete {path.parent} and try again") from None

    @classmethod
    def _open(cls, path: Path, meta: Path, run: LoadedRun, int8: bool = False) -> OnnxModel:
        import onnxruntime as ort

        try:
            info = parse_json(meta)
        except UnreadableFile as exc:
            raise _BrokenExport(f"{meta} {exc}") from None
        inputs = info.get("inputs") if isinstance(info, dict) else None
        if not (isinstance(inputs, list) and all(isinstance(i, dict) and isinstance(i.get("name"), str)
                                                 for i in inputs)):
            raise _BrokenExport(f"{meta} does not list the model's inputs")
        if info.get("labels") != run.labels:
            raise _BrokenExport(f"{meta} was exported with other labels than {run.paths.labels.name}")
        quantization = info.get("quantization")
        if int8 and not (isinstance(quantization, dict) and quantization.get("type") == "int8"):
            raise _BrokenExport(f"{meta} does not describe an int8 model")
        try:
            session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime's errors (InvalidProtobuf, Fail, ...) derive from Exception only
            first = str(exc).splitlines()[0] if str(exc) else ""
            raise _BrokenExport(f"{path} is corrupt or truncated ({type(exc).__name__}: {first})") from None
        names = [item["name"] for item in inputs]
        if sorted(names) != sorted(i.name for i in session.get_inputs()):
            raise _BrokenExport(f"{path} takes other inputs than {meta.name} lists")
        return cls(session, names, info)


class _BrokenExport(Exception):
    """Why an exported ONNX file or its JSON cannot be used (worded as a sentence naming the file)."""


def _fresh(path: Path, meta: Path, run: LoadedRun) -> bool:
    """An exported file and its JSON exist and are not older than the weights they were made from."""
    return path.exists() and meta.exists() and path.stat().st_mtime >= run.paths.weights.stat().st_mtime
