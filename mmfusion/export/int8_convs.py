"""Static (calibrated) int8 convolutions: what makes int8 pay for image models.

Dynamic quantisation leaves convolutions in fp32, and on EfficientNet-Lite0 they are half of the model's time.
Static quantisation measures each activation's range on some of the run's training rows (calibration) and
stores convolution weights (per output channel) and activations in int8 (QDQ format, which onnxruntime runs as
int8 kernels). The convolutions nearest the input are the ones that lose the most: on easy-VQA, int8 for all
49 convolutions of EfficientNet-Lite0 changed 8 % of the validation answers, int8 for all but the first two 0.7 %.
So the first convolutions are kept in fp32 step by step (0, 1, 2, 4, 8 ...) until the check rows' metric
stays within the allowed drop; the candidates tried are recorded.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: default training rows whose activations set the int8 ranges
CALIBRATION_ROWS = 256
#: how many of the first convolutions stay fp32, tried in this order (cut at the model's number of convolutions)
FP32_FIRST_CONVS = (0, 1, 2, 4, 8, 16)


@dataclass
class ConvPlan:
    """What the static step did: the convolutions left in fp32 and every candidate tried."""

    convolutions: int
    fp32_convs: list[str] = field(default_factory=list)
    calibration_rows: int = 0
    tried: list[dict[str, Any]] = field(default_factory=list)
    chosen: bool = False
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"convolutions": self.convolutions, "int8": self.convolutions - len(self.fp32_convs) if self.chosen
                else 0, "fp32_first": len(self.fp32_convs) if self.chosen else self.convolutions,
                "fp32_nodes": self.fp32_convs if self.chosen else [], "calibration_rows": self.calibration_rows,
                "calibration_method": "MinMax, per-tensor activations (uint8), per-channel weights (int8), QDQ",
                "tried": self.tried, **({"reason": self.reason} if self.reason else {})}


@contextmanager
def quiet_onnxruntime() -> Iterator[None]:
    """onnxruntime's quantiser logs advice at INFO/WARNING (pre-processing, shape inference) that changes
    nothing here; keep it off the user's terminal."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def convolutions(path: Path) -> list[str]:
    """Names of the model's Conv nodes in graph order (the first read the input pictures)."""
    import onnx

    return [node.name for node in onnx.load(str(path), load_external_data=False).graph.node
            if node.op_type == "Conv"]


def calibration_feeds(run: Any, names: Sequence[str], rows: int
                      ) -> tuple[Callable[[], Iterator[dict[str, Any]]] | None, int, str | None]:
    """Up to ``rows`` training rows of the run as ONNX feeds (batches of 32, decoded anew on every call of the
    returned function), how many rows, or None, 0 and why there are none."""
    from ..inference.backends import feeds_for
    from .int8_check import split_batches

    batches, count, reason = split_batches(run, "train", rows, batch_size=32, with_labels=False)
    if batches is None:
        return None, 0, reason
    return (lambda: (feeds_for(names, b) for b in batches())), count, None


class _Reader:
    """onnxruntime's CalibrationDataReader over a stream of feeds (one pass per quantisation)."""

    def __init__(self, feeds: Iterator[dict[str, Any]]) -> None:
        self._feeds = feeds

    def get_next(self) -> dict[str, Any] | None:
        return next(self._feeds, None)


def quantize_convs(prepared: Path, out: Path, feeds: Iterator[dict[str, Any]], fp32_convs: Sequence[str]) -> None:
    """int8 for the Conv nodes of ``prepared`` except ``fp32_convs``, calibrated on ``feeds``."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    with quiet_onnxruntime():
        quantize_static(str(prepared), str(out), _Reader(feeds), quant_format=QuantFormat.QDQ,
                        op_types_to_quantize=["Conv"], per_channel=True, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax,
                        nodes_to_exclude=list(fp32_convs))


def static_conv_candidates(source: Path, feeds: Callable[[], Iterator[dict[str, Any]]],
                           finish: Callable[[Path, Path], None], judge: Callable[[Path], dict[str, Any]],
                           accept: Callable[[dict[str, Any]], bool], out: Path, plan: ConvPlan) -> bool:
    """Try int8 convolutions with 0, 1, 2, 4 ... of the first ones kept fp32; keep the first candidate that
    ``accept`` passes at ``out`` (``finish`` quantises the rest, e.g. MatMuls, from the static model to ``out``;
    ``judge`` measures ``out``). Returns whether one was accepted; ``plan`` records every try."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    names = convolutions(source)
    with tempfile.TemporaryDirectory(prefix="mmfusion-int8-") as folder:
        prepared = Path(folder) / "prepared.onnx"
        with quiet_onnxruntime():  # onnxruntime's recommended pass (shape inference, graph optimisation)
            quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        names = convolutions(prepared) or names
        plan.convolutions = len(names)
        for keep in [k for k in FP32_FIRST_CONVS if k < len(names)]:
            static = Path(folder) / "static.onnx"
            quantize_convs(prepared, static, feeds(), names[:keep])
            finish(static, out)
            static.unlink()
            result = judge(out)
            plan.tried.append({"fp32_first": keep, **{k: result[k] for k in ("drop_points", "agreement")
                                                      if k in result}})
            if accept(result):
                plan.fp32_convs, plan.chosen = list(names[:keep]), True
                return True
    plan.reason = "every candidate lost more than the allowed accuracy on the check rows"
    return False
