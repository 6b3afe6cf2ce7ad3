"""int8 quantisation of an exported ONNX model, kept only where it is measured to do no harm.

Two steps. Convolutions: static int8 (activation ranges calibrated on some of the run's training rows; see
:mod:`.int8_convs`), with the first convolutions kept fp32 as far as needed to stay within the allowed accuracy
drop on the validation rows. MatMul/Gemm: onnxruntime's ``quantize_dynamic`` (int8 weights per output channel,
activations quantised on the fly). Without validation rows to check them on, or training rows to calibrate
them on, convolutions stay fp32 (their dynamic form, ``ConvInteger``, ran at 0.15× fp32's speed on
EfficientNet-Lite0 and changed 9 % of easy-VQA's answers). Embedding tables (``Gather``) gain no speed. What was
quantised, how fast it ran against fp32 on this machine, and how often its predictions agree with fp32's on the
run's validation rows go into its JSON.
"""

from __future__ import annotations

import math
import statistics
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import MMFusionError
from ..io import write_atomic, write_json_atomic
from ..run.files import UnreadableFile, parse_json
from ..run.load import LoadedRun
from .int8_convs import (
    CALIBRATION_ROWS,
    ConvPlan,
    calibration_feeds,
    convolutions,
    quiet_onnxruntime,
    static_conv_candidates,
)

#: the operators whose weights become int8
INT8_OPS = ("MatMul", "Gemm")
#: the operators a weight census counts: what int8 replaces and what it is replaced by
_CENSUS_OPS = {"MatMul", "Gemm", "Conv", "MatMulInteger", "DynamicQuantizeLinear", "ConvInteger", "DequantizeLinear"}
#: below this speed-up over fp32 (measured at quantisation) int8 is kept with a warning that it does not pay
MIN_SPEEDUP = 1.1
#: default largest accepted loss of validation accuracy, in percentage points
MAX_ACCURACY_DROP = 0.5
#: default validation rows compared (a random subset of larger validation sets)
CHECK_ROWS = 1000


class QuantizationRefused(MMFusionError):
    """int8 would not help, or would change predictions more than allowed; the fp32 model is the one to use."""


@dataclass
class QuantizeResult:
    path: Path
    metadata_path: Path
    seconds: float
    weights: dict[str, Any]
    speed: dict[str, Any]
    validation: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    convolutions: dict[str, Any] = field(default_factory=dict)


def int8_path(fp32: Path) -> Path:
    """Where the int8 model of an fp32 ONNX file goes: ``model.onnx`` → ``model.int8.onnx``."""
    return fp32.with_name(f"{fp32.stem}.int8{fp32.suffix}")


def weight_census(path: Path) -> dict[str, Any]:
    """Weights (initializer values) by element type and by the operator that consumes them, and op counts."""
    import onnx

    model = onnx.load(str(path))
    sizes = {t.name: (t.data_type, math.prod(int(d) for d in t.dims)) for t in model.graph.initializer}
    int8 = sum(n for kind, n in sizes.values() if kind in (onnx.TensorProto.INT8, onnx.TensorProto.UINT8))
    total = sum(n for kind, n in sizes.values())
    by_op: Counter[str] = Counter()
    for node in model.graph.node:
        if node.op_type in ("QuantizeLinear", "DequantizeLinear"):
            continue  # their fp32 inputs are int8 weights' scales, not weights
        for name in node.input:
            if name in sizes and sizes[name][0] == onnx.TensorProto.FLOAT:
                by_op[node.op_type] += sizes[name][1]
                sizes[name] = (-1, sizes[name][1])  # count a weight shared by several nodes once
    ops = Counter(node.op_type for node in model.graph.node)
    # biases, norms and the int8 weights' scales are a sliver: list the operators that hold real weight
    fp32 = {op: n for op, n in by_op.most_common() if n >= 0.01 * total}
    return {"int8_weights": int8, "weights": total, "fp32_weights_by_op": fp32,
            "ops": {k: v for k, v in sorted(ops.items()) if k in _CENSUS_OPS}}


def quantize_onnx(source: Path, out: Path) -> None:
    """int8 weights for MatMul/Gemm of ``source``, written atomically to ``out``."""
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError:
        raise MMFusionError("int8 quantisation needs onnxruntime and onnx: pip install 'mmfusion[export]'") from None
    with quiet_onnxruntime():  # its advice to run a shape pre-pass: measured to change nothing here
        write_atomic(out, lambda tmp: quantize_dynamic(source, tmp, op_types_to_quantize=list(INT8_OPS),
                                                       per_channel=True, weight_type=QuantType.QInt8))


def measure_speed(fp32: Any, int8: Any, feeds: dict[str, Any], *, budget_s: float = 2.0, min_rounds: int = 5,
                  max_rounds: int = 25) -> dict[str, Any]:
    """The best time of each session on the same feeds, interleaved round by round (rounds go on until
    ``budget_s`` has passed, within the bounds): other work on the machine slows some rounds of either, and
    the best round is the one least disturbed. The medians are kept to show how disturbed the rest were."""
    fp32.run(None, feeds), int8.run(None, feeds)  # warm-up: first runs allocate
    times: dict[str, list[float]] = {"fp32": [], "int8": []}
    began = time.perf_counter()
    while len(times["fp32"]) < max_rounds and (len(times["fp32"]) < min_rounds
                                               or time.perf_counter() - began < budget_s):
        for name, session in (("fp32", fp32), ("int8", int8)):
            started = time.perf_counter()
            session.run(None, feeds)
            times[name].append(time.perf_counter() - started)
    best = {k: min(v) for k, v in times.items()}
    return {"batch": len(next(iter(feeds.values()))), "rounds": len(times["fp32"]),
            "fp32_ms": round(best["fp32"] * 1000, 2), "int8_ms": round(best["int8"] * 1000, 2),
            "speedup": round(best["fp32"] / best["int8"], 3),
            **{f"{k}_median_ms": round(statistics.median(v) * 1000, 2) for k, v in times.items()}}


def timing_session(path: Path) -> Any:
    """An onnxruntime session for timing: worker threads sleep between runs instead of spinning, so one
    session's idle threads do not take the cores from the other one's run."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def check_something_quantised(census: dict[str, Any], name: str) -> None:
    """Refuse a model with no int8 weight: quantising would only add steps.

    Raises:
        QuantizationRefused: naming the operators that hold the model's weights.
    """
    if census["int8_weights"] == 0:
        kinds = ", ".join(f"{op} {n:,}" for op, n in census["fp32_weights_by_op"].items()) or "none"
        raise QuantizationRefused(f"{name} has no MatMul/Gemm with fixed weights and no convolution that int8 "
                                  "could take within the allowed accuracy drop, so int8 has nothing to speed up "
                                  f"(its weights by operator: {kinds}); use the fp32 model (no --quantize)")


def judge(census: dict[str, Any], speed: dict[str, Any], validation: dict[str, Any], max_accuracy_drop: float
          ) -> list[str]:
    """Whether the measured int8 model is kept: the warnings it is kept with.

    Raises:
        QuantizationRefused: validation accuracy more than ``max_accuracy_drop`` points below fp32's.
    """
    notes = []
    if speed["speedup"] < MIN_SPEEDUP:
        share = census["int8_weights"] / max(census["weights"], 1)
        rest = ", ".join(f"{op} {n:,}" for op, n in census["fp32_weights_by_op"].items())
        notes.append(f"int8 ran {speed['speedup']:.2f}× as fast as fp32 on this machine ({speed['int8_ms']:.1f} "
                     f"against {speed['fp32_ms']:.1f} ms for {speed['batch']} samples; {share:.0%} of the weights "
                     f"are int8, fp32 weights by operator: {rest or 'none'}): the fp32 model serves as well here")
    if not validation["checked"]:
        notes.append(f"int8 accuracy not checked: {validation['reason']}")
    elif validation["drop_points"] > max_accuracy_drop:
        raise QuantizationRefused(
            f"int8 lowers {validation['metric']} on {validation['rows']} validation rows from {validation['fp32']:.4f} "
            f"to {validation['int8']:.4f} ({validation['drop_points']:.2f} points, more than the {max_accuracy_drop:g} "
            f"allowed; predictions agree on {validation['agreement']:.1%}); use the fp32 model, or accept the loss "
            "with `mmfusion export RUN --quantize int8 --max-accuracy-drop POINTS`")
    return notes


def quantize_run(run: LoadedRun, source: Path, out: Path | None = None, *, check_rows: int = CHECK_ROWS,
                 max_accuracy_drop: float = MAX_ACCURACY_DROP, speed_batch: int = 32, static_convs: bool = True,
                 calibration_rows: int = CALIBRATION_ROWS) -> QuantizeResult:
    """The int8 model of ``source`` (the run's fp32 ONNX export, with its JSON), checked before it is kept (see the
    module docstring). Refused, leaving no int8 file or JSON behind, when nothing can be quantised or the accuracy
    on up to ``check_rows`` validation rows falls more than ``max_accuracy_drop`` points below fp32's; kept with a
    warning when it is less than :data:`MIN_SPEEDUP` times as fast here, or cannot be checked.

    Raises:
        QuantizationRefused: see above; the message gives the figures and what to do.
        MMFusionError: onnxruntime missing, or the fp32 model's JSON unreadable.
    """
    from ..inference.backends import feeds_for
    from ..model.featurizer import example_batch
    from .int8_check import CheckSet

    if max_accuracy_drop < 0:
        raise MMFusionError(f"max_accuracy_drop is in accuracy points and cannot be negative, got {max_accuracy_drop}")
    try:
        import onnx  # noqa: F401
        import onnxruntime.quantization  # noqa: F401
    except ImportError:
        raise MMFusionError("int8 quantisation needs onnxruntime and onnx: pip install 'mmfusion[export]'") from None
    out = Path(out) if out else int8_path(source)
    source_meta = source.with_suffix(source.suffix + ".json")
    try:
        info = parse_json(source_meta)
    except UnreadableFile as exc:
        raise MMFusionError(f"{source_meta} {exc}; export the fp32 model again (mmfusion export)") from None
    meta_path = out.with_suffix(out.suffix + ".json")
    meta_path.unlink(missing_ok=True)  # until this model has passed its checks
    names = [item["name"] for item in info["inputs"]]
    started = time.perf_counter()
    try:
        fp32 = timing_session(source)
        check = CheckSet.for_run(run, names, fp32, rows=check_rows)
        plan = _int8_convolutions(run, source, out, names, check, max_accuracy_drop, static_convs, calibration_rows)
        if not plan.chosen:
            quantize_onnx(source, out)
        seconds = time.perf_counter() - started
        census = weight_census(out)
        check_something_quantised(census, source.name)
        int8 = timing_session(out)
        speed = measure_speed(fp32, int8, feeds_for(names, example_batch(run.model, speed_batch, with_absent=False,
                                                                          seed=3)))
        validation = check.compare(int8) if isinstance(check, CheckSet) else {"checked": False, "reason": check}
        notes = judge(census, speed, validation, max_accuracy_drop)
    except BaseException:
        out.unlink(missing_ok=True)
        raise
    weights = {"int8": census["int8_weights"], "total": census["weights"],
               "int8_share": round(census["int8_weights"] / max(census["weights"], 1), 4),
               "fp32_by_operator": census["fp32_weights_by_op"], "operators": census["ops"]}
    method = ("static int8 convolutions (calibrated) + onnxruntime dynamic quantisation of MatMul/Gemm"
              if plan.chosen else "onnxruntime dynamic quantisation")
    metadata = {**info, "file": out.name, "quantization": {
        "type": "int8", "method": method, "operators": (["Conv"] if plan.chosen else []) + list(INT8_OPS),
        "per_channel": True, "source": source.name, "convolutions": plan.to_json(), "weights": weights,
        "speed": speed, "validation": validation, "max_accuracy_drop": max_accuracy_drop, "warnings": notes}}
    write_json_atomic(meta_path, metadata)
    for note in notes:
        warnings.warn(f"{out.name}: {note}", stacklevel=2)
    return QuantizeResult(out, meta_path, seconds, weights, speed, validation, notes, plan.to_json())


def _int8_convolutions(run: LoadedRun, source: Path, out: Path, names: list[str], check: Any,
                       max_accuracy_drop: float, enabled: bool, calibration_rows: int) -> ConvPlan:
    """Static int8 convolutions (and dynamic MatMul/Gemm) at ``out`` when a candidate keeps the accuracy on the
    check rows; the plan says what was tried, or why nothing was."""
    from .int8_check import CheckSet

    plan = ConvPlan(convolutions=len(convolutions(source)))
    if plan.convolutions and not enabled:
        plan.reason = "static int8 convolutions were not asked for"
    elif plan.convolutions and not isinstance(check, CheckSet):
        plan.reason = f"convolutions stay fp32: no validation rows to check them on ({check})"
    if not plan.convolutions or plan.reason:
        return plan
    try:
        feeds, plan.calibration_rows, reason = calibration_feeds(run, names, calibration_rows)
        if feeds is None:
            plan.reason = f"convolutions stay fp32: no training rows to calibrate them on ({reason})"
            return plan
        static_conv_candidates(source, feeds, finish=quantize_onnx,
                               judge=lambda path: check.compare(timing_session(path)),
                               accept=lambda result: result["drop_points"] <= max_accuracy_drop, out=out, plan=plan)
    except Exception as exc:  # an optional step: the MatMul-only model is still worth having
        out.unlink(missing_ok=True)
        plan.chosen, plan.fp32_convs = False, []
        plan.reason = f"convolutions stay fp32: static quantisation failed ({type(exc).__name__}: " \
                      f"{str(exc).splitlines()[0] if str(exc) else ''})"
    return plan
