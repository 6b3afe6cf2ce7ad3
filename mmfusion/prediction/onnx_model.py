"""``OnnxModel``: a run's model exported to ONNX (fp32, or quantised to int8), kept in step with its weights."""

from __future__ import annotations

import warnings
from collections.abc import Callable
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

        return cls._kept(run, path, lambda: export_run(run, "onnx", path), "exporting",
                         f"from {run.paths.weights.name}")

    @classmethod
    def _int8(cls, run: LoadedRun, fp32: Path) -> OnnxModel:
        from ..export.quantize import int8_path, quantize_run

        def make() -> None:
            cls._fp32(run, fp32)  # an intact fp32 export of the current weights to quantise (made or healed here)
            quantize_run(run, fp32, path)

        path = int8_path(fp32)
        return cls._kept(run, path, make, "quantising", f"from {fp32.name}", int8=True)

    @classmethod
    def _kept(cls, run: LoadedRun, path: Path, make: Callable[[], None], making: str, source: str,
              int8: bool = False) -> OnnxModel:
        """The file at ``path`` when it is fresh and intact, else made again (with a warning if it was damaged)."""
        meta = path.with_suffix(".onnx.json")
        if _fresh(path, meta, run):
            try:
                model = cls._open(path, meta, run, int8)
            except _BrokenExport as exc:
                warnings.warn(f"{exc}; {making} it again {source}", stacklevel=5)
            else:  # what quantising warned about still holds for this file
                for note in (model.info.get("quantization") or {}).get("warnings") or []:
                    warnings.warn(f"{path.name} (quantised earlier): {note}", stacklevel=5)
                return model
        make()
        try:
            return cls._open(path, meta, run, int8)
        except _BrokenExport as exc:
            raise MMFusionError(f"{exc}, right after {making} it; delete {path.parent} and try again") from None

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
