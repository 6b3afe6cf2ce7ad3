"""Cost of an ablation: 6 fusion variants sharing frozen-encoder features vs one variant alone.

Both start from an empty feature cache, one after the other in this process: first one variant is
trained and evaluated alone (so it pays for running the encoders), then a sweep of six variants
(which runs the encoders once and shares their cached outputs). Prints both wall times and the ratio.
The base is examples/easy_vqa.yaml with the image encoder at its native 224 px.

    python benchmarks/ablation_cost.py [--image-size 224] [--work bench-runs/ablation-cost]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
FUSIONS = {
    "concat": {"type": "concat", "projection_dim": 256},
    "gated": {"type": "gated", "dim": 256},
    "sum": {"type": "sum", "dim": 256},
    "mean": {"type": "mean", "dim": 256},
    "tensor": {"type": "tensor", "dim": 16},
    "low_rank_tensor": {"type": "low_rank_tensor", "dim": 128, "rank": 4},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--work", type=Path, default=Path("bench-runs/ablation-cost"))
    args = parser.parse_args()
    import mmfusion
    from mmfusion.sweep.runner import run_sweep

    if args.work.exists():
        shutil.rmtree(args.work)
    args.work.mkdir(parents=True)
    base = mmfusion.load_spec(ROOT / "examples" / "easy_vqa.yaml").model_dump(mode="json")
    base["model"]["encoders"]["image"]["image_size"] = args.image_size
    base["model"]["fusion"] = FUSIONS["concat"]

    def with_cache(name: str) -> Path:
        spec = dict(base, train={**base["train"], "cache_dir": str(args.work / f"cache-{name}")})
        path = args.work / f"base-{name}.yaml"
        path.write_text(yaml.safe_dump(spec, sort_keys=False))
        return path

    os.environ.pop("MMFUSION_CACHE_DIR", None)
    started = time.perf_counter()
    mmfusion.fit(with_cache("alone"), out=args.work / "alone")
    mmfusion.evaluate(args.work / "alone")
    alone = time.perf_counter() - started

    sweep = {"base": str(with_cache("sweep")), "seeds": [0], "baselines": False,
             "variants": [{"name": name, "set": {"model.fusion": fusion}} for name, fusion in FUSIONS.items()]}
    sweep_file = args.work / "sweep.yaml"
    sweep_file.write_text(yaml.safe_dump(sweep, sort_keys=False))
    started = time.perf_counter()
    result = run_sweep(sweep_file, args.work / "sweep", progress=False)
    ablation = time.perf_counter() - started
    print(json.dumps({"one_variant_alone_seconds": round(alone, 1), "six_variants_seconds": round(ablation, 1),
                      "ratio": round(ablation / alone, 2), "image_size": args.image_size,
                      "accuracies": {r["variant"]: round(r["accuracy"], 4) for r in result.records}}, indent=2))


if __name__ == "__main__":
    main()
