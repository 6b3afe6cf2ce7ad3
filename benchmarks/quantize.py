"""int8 against fp32 ONNX Runtime (and PyTorch) on easy-VQA: samples/s and test accuracy, in one run.

Trains examples/easy_vqa.yaml (EfficientNet-Lite0 at 128 px + MiniLM-L6, frozen, attention fusion) into
``--work`` unless a finished run is there, exports it (RUN/export/model.onnx) and quantises it the way
``mmfusion export --quantize int8`` does (RUN/export/model.int8.onnx: static int8 convolutions calibrated on
training rows, the first ones kept fp32 as far as the validation check needs, and MatMul/Gemm weights int8;
its own checks on the validation rows). Then every test batch is decoded once and run by each contender in
turn, so load from other work on the machine falls on all of them alike: PyTorch as ``Predictor`` runs it
(the run's precision on this CPU), fp32 ORT, int8 ORT, int8 with MatMul/Gemm alone (dynamic quantisation,
the convolutions fp32: what ``--quantize int8`` did before static convolutions). Samples/s count model time
only (preprocessed tensors in, logits out). Also: batch-1 latency on ``--latency-rows`` test rows; an ONNX
Runtime profile of one batch (time by operator); and, on ``--conv-batches`` batches, dynamic int8
convolutions (ConvInteger), which is why convolutions are quantised statically.

    python benchmarks/quantize.py [--work bench-runs/quantize] [--batch-size 64] [--rows N]
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]


def trained_run(work: Path) -> Path:
    """The easy-VQA run in ``work``, trained now unless a finished one is there."""
    from mmfusion.api import fit

    run = work / "run"
    if (run / "summary.json").exists() and (run / "weights.safetensors").exists():
        return run
    spec = yaml.safe_load((ROOT / "examples" / "easy_vqa.yaml").read_text())
    started = time.perf_counter()
    fit(spec, out=run, progress=False)
    print(json.dumps({"trained_seconds": round(time.perf_counter() - started, 1)}), flush=True)
    return run


def session(path: Path, profile: str | None = None) -> Any:
    """Worker threads sleep between runs (no spinning), as in the quantiser's own speed check: an idle
    session's spinning threads would otherwise take the cores from the next contender's run."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if profile:
        options.enable_profiling = True
        options.profile_file_prefix = profile
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def operator_times(path: Path, feeds: dict[str, np.ndarray], prefix: str, runs: int = 3) -> dict[str, float]:
    """Milliseconds per run by operator kind (ONNX Runtime's profiler; the first, warm-up run left out)."""
    profiled = session(path, prefix)
    for _ in range(runs + 1):
        profiled.run(None, feeds)
    events = json.loads(Path(profiled.end_profiling()).read_text())
    starts = sorted(e["ts"] for e in events if e.get("cat") == "Session" and e["name"] == "model_run")
    by_op: Counter[str] = Counter()
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time") and event["ts"] >= starts[1]:
            by_op[event["args"]["op_name"]] += event["dur"]
    total = sum(by_op.values())
    return {"total_ms": round(total / 1000 / runs, 1),
            **{op: round(us / 1000 / runs, 1) for op, us in by_op.most_common(8)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("bench-runs/quantize"))
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rows", type=int, default=None, help="Test rows (default: the whole test split).")
    parser.add_argument("--latency-rows", type=int, default=200)
    parser.add_argument("--conv-batches", type=int, default=4)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from mmfusion.data.labels import LabelSet
    from mmfusion.data.pipeline import build_pipeline
    from mmfusion.data.tables import load_prepared_tables
    from mmfusion.export.quantize import int8_path, quantize_onnx, quantize_run
    from mmfusion.inference.backends import feeds_for
    from mmfusion.inference.engine import InferenceEngine
    from mmfusion.prediction.predictor import Predictor

    run_dir = trained_run(args.work)
    predictor = Predictor(run_dir, device="cpu", backend="onnx")  # exports RUN/export/model.onnx if needed
    fp32_path = run_dir / "export" / "model.onnx"
    started = time.perf_counter()
    quantized = quantize_run(predictor.run, fp32_path)
    results: dict[str, Any] = {"quantize_seconds": round(time.perf_counter() - started, 1),
                               "weights": quantized.weights, "speed_check": quantized.speed,
                               "validation_check": quantized.validation, "warnings": quantized.warnings,
                               "torch_precision": Predictor(run_dir, device="cpu").engine.precision.name,
                               "threads": torch.get_num_threads()}
    results["convolutions"] = quantized.convolutions
    conv_path = args.work / "model.int8-conv.onnx"
    quantize_dynamic(fp32_path, conv_path, op_types_to_quantize=["MatMul", "Gemm", "Conv"], per_channel=True,
                     weight_type=QuantType.QInt8)
    matmul_path = args.work / "model.int8-matmul.onnx"
    quantize_onnx(fp32_path, matmul_path)
    sessions = {"onnx fp32": session(fp32_path), "onnx int8": session(int8_path(fp32_path)),
                "onnx int8, MatMul only": session(matmul_path), "onnx int8 + ConvInteger": session(conv_path)}
    names = predictor.onnx.input_names  # type: ignore[union-attr]

    run = predictor.run
    prepared = load_prepared_tables(run.spec.data)
    table = prepared.tables["test"]
    if args.rows:
        table = table.iloc[:args.rows]
    from dataclasses import replace

    prepared = replace(prepared, tables={"test": table})
    pipeline = build_pipeline(run.model, run.spec.data, prepared, LabelSet(run.labels), splits=["test"], cache=False)
    engine = InferenceEngine.for_run(run.model, run.spec.train, torch.device("cpu"), task=run.task)
    contenders = ["torch", "onnx fp32", "onnx int8", "onnx int8, MatMul only", "onnx int8 + ConvInteger"]
    seconds = dict.fromkeys(contenders, 0.0)
    rows = dict.fromkeys(contenders, 0)
    predicted: dict[str, list[np.ndarray]] = {c: [] for c in contenders}
    truth = []
    profile_feeds = None
    for index, batch in enumerate(pipeline.batches("test", args.batch_size)):
        feeds = feeds_for(names, batch)
        profile_feeds = profile_feeds or feeds
        for name in contenders:
            if name == "onnx int8 + ConvInteger" and index >= args.conv_batches:
                continue
            began = time.perf_counter()
            if name == "torch":
                logits = engine.predict([batch]).logits
            else:
                logits = sessions[name].run(None, feeds)[0]
            seconds[name] += time.perf_counter() - began
            rows[name] += len(batch)
            predicted[name].append(logits.argmax(1))
        truth.append(batch.labels.numpy())
    y = np.concatenate(truth)
    table_rows = {}
    for name in contenders:
        got = np.concatenate(predicted[name])
        row = {"rows": rows[name], "samples_per_s": round(rows[name] / seconds[name], 1)}
        row["accuracy"] = round(float((got == y[:len(got)]).mean()), 4)
        row["agreement_with_fp32"] = round(float((got == np.concatenate(predicted["onnx fp32"])[:len(got)]).mean()), 4)
        table_rows[name] = row
    results["test"] = table_rows
    latency: dict[str, list[float]] = {"onnx fp32": [], "onnx int8": [], "onnx int8, MatMul only": []}
    for batch in pipeline.batches("test", 1):
        if len(latency["onnx fp32"]) >= args.latency_rows:
            break
        feeds = feeds_for(names, batch)
        for name in latency:
            began = time.perf_counter()
            sessions[name].run(None, feeds)
            latency[name].append(time.perf_counter() - began)
    results["batch1_median_ms"] = {k: round(1000 * float(np.median(v)), 2) for k, v in latency.items()}
    results["profile_ms_per_batch"] = {
        "onnx fp32": operator_times(fp32_path, profile_feeds, str(args.work / "profile-fp32")),
        "onnx int8": operator_times(int8_path(fp32_path), profile_feeds, str(args.work / "profile-int8"))}
    print(json.dumps(results, indent=2))
    fp32 = table_rows["onnx fp32"]
    print()
    print(f"| | samples/s (batch {args.batch_size}) | vs fp32 ORT | test accuracy | agrees with fp32 |")
    print("|---|---:|---:|---:|---:|")
    for name, row in table_rows.items():
        note = f" ({row['rows']} rows)" if row["rows"] != fp32["rows"] else ""
        print(f"| {name}{note} | {row['samples_per_s']} | {row['samples_per_s'] / fp32['samples_per_s']:.2f}× | "
              f"{row['accuracy']:.4f} | {row['agreement_with_fp32']:.2%} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
