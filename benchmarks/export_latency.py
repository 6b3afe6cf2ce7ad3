"""Exported model (ONNX Runtime, TorchScript) against PyTorch eager on the CPU: latency and throughput.

The model is the real-weights example (examples/easy_vqa_pretrained.yaml: EfficientNet-Lite0 +
MiniLM + missing-modality attention fusion). All three take the same preprocessed tensors, so the
figures compare model execution only, at batch 1 (latency) and batch 64 (throughput).

    python benchmarks/export_latency.py [--repeats 20]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

import torch

import mmfusion
from mmfusion.export.exporters import export_run
from mmfusion.export.wrapper import flatten, interface_for
from mmfusion.model.builder import build_model
from mmfusion.model.featurizer import make_batch
from mmfusion.run.load import LoadedRun, RunPaths

ROOT = Path(__file__).resolve().parents[1]


def timed(fn, repeats: int) -> list[float]:  # type: ignore[no-untyped-def]
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    import onnxruntime as ort

    spec = mmfusion.load_spec(ROOT / "examples" / "easy_vqa_pretrained.yaml")
    torch.manual_seed(0)
    model = build_model(spec, 13).eval()
    tmp = Path(tempfile.mkdtemp())
    run = LoadedRun(RunPaths(tmp), spec, [str(i) for i in range(13)], model, {}, {}, "multiclass")
    onnx = export_run(run, "onnx", tmp / "model.onnx")
    script = export_run(run, "torchscript", tmp / "model.pt")
    interface, _ = interface_for(model)
    session = ort.InferenceSession(str(onnx.path), providers=["CPUExecutionProvider"])
    traced = torch.jit.load(str(script.path))
    rng = random.Random(0)
    results = {"onnx_export_seconds": round(onnx.seconds, 1), "max_abs_diff": onnx.max_abs_diff}
    for batch_size in (1, 64):
        samples = [{m: e.example_input(rng) for m, e in model.encoders.items()} for _ in range(batch_size)]
        tensors = flatten(make_batch(model, samples), interface.layout)
        feeds = {n: t.numpy() for n, t in zip(interface.input_names, tensors)}
        repeats = args.repeats if batch_size == 1 else max(3, args.repeats // 4)

        def eager(tensors=tensors) -> None:  # type: ignore[no-untyped-def]
            with torch.inference_mode():
                interface(*tensors)

        def torchscript(tensors=tensors) -> None:  # type: ignore[no-untyped-def]
            with torch.inference_mode():
                traced(*tensors)

        def onnxruntime(feeds=feeds) -> None:  # type: ignore[no-untyped-def]
            session.run(None, feeds)

        for name, fn in (("pytorch_eager", eager), ("torchscript", torchscript), ("onnxruntime", onnxruntime)):
            times = timed(fn, repeats)
            median = statistics.median(times)
            results[f"batch{batch_size}_{name}_ms"] = round(median * 1000, 1)
            results[f"batch{batch_size}_{name}_samples_per_s"] = round(batch_size / median, 1)
        eager_ms = results[f"batch{batch_size}_pytorch_eager_ms"]
        results[f"batch{batch_size}_onnx_speedup"] = round(eager_ms / results[f"batch{batch_size}_onnxruntime_ms"], 2)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
