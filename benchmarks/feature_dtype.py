"""What fp16 features cost: examples/easy_vqa.yaml trained with `train.feature_dtype: fp16` and with `fp32`.

The example as written (EfficientNet-Lite0 at 128 px and MiniLM-L6, frozen, attention fusion, 3 epochs), once
with each dtype, both from an empty feature cache in ``--work``; then the cached features themselves are compared
value by value (the same fingerprints in both folders). Prints JSON: test accuracy and macro-F1 of each run, the
seconds each took, the features' relative RMS and largest absolute difference, and each folder's size.

    python benchmarks/feature_dtype.py [--work bench-runs/feature-dtype]
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]


def features(folder: Path) -> dict[str, tuple[torch.Tensor, torch.Tensor | None]]:
    """Fingerprint → (pooled, tokens) of every shard in a cache folder, as fp32."""
    from safetensors.torch import load_file

    out = {}
    for listing in folder.glob("shard-*.json"):
        data = load_file(listing.with_suffix(".safetensors"))
        starts = torch.cumsum(torch.cat([torch.zeros(1, dtype=torch.long), data["lengths"]]), 0) \
            if "lengths" in data else None
        for row, fp in enumerate(json.loads(listing.read_text())["fingerprints"]):
            tokens = data["tokens"][starts[row]:starts[row + 1]].float() if starts is not None else None
            out[fp] = (data["pooled"][row].float(), tokens)
    return out


def compare(cache: Path) -> dict[str, object]:
    """fp16 against fp32 features of each encoder folder pair."""
    result = {}
    for half in sorted(p for p in (cache / "features").iterdir() if not p.name.endswith("-fp32")):
        encoder = json.loads((half / "encoder.json").read_text())["class"].rsplit(".", 1)[-1]
        a, b = features(half), features(half.with_name(half.name + "-fp32"))
        keys = sorted(set(a) & set(b))
        row: dict[str, object] = {"values": len(keys), "fp16_mb": sum(f.stat().st_size for f in half.iterdir()) >> 20,
                                  "fp32_mb": sum(f.stat().st_size for f in half.with_name(half.name + "-fp32")
                                                 .iterdir()) >> 20}
        for part in (0, 1):
            if a[keys[0]][part] is None:
                continue
            x = torch.cat([a[k][part].reshape(-1) for k in keys])  # type: ignore[union-attr]
            y = torch.cat([b[k][part].reshape(-1) for k in keys])  # type: ignore[union-attr]
            row[("pooled", "tokens")[part]] = {"relative_rms": float((x - y).norm() / y.norm()),
                                               "max_abs": float((x - y).abs().max()),
                                               "bf16_exact_fp32": bool(torch.equal(y.bfloat16().float(), y))}
        result[encoder] = row
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("bench-runs/feature-dtype"))
    args = parser.parse_args()
    from mmfusion.api import fit

    shutil.rmtree(args.work, ignore_errors=True)
    base = yaml.safe_load((ROOT / "examples" / "easy_vqa.yaml").read_text())
    results: dict[str, object] = {}
    for dtype in ("fp16", "fp32"):
        spec = json.loads(json.dumps(base))
        spec["train"].update(feature_dtype=dtype, cache_dir=str(args.work / "cache"))
        started = time.perf_counter()
        result = fit(spec, out=args.work / f"run-{dtype}")
        summary = json.loads((result.run_dir / "summary.json").read_text())
        results[dtype] = {"test_accuracy": round(result.test_metrics["accuracy"], 4),
                          "test_macro_f1": round(result.test_metrics["macro_f1"], 4),
                          "seconds": round(time.perf_counter() - started, 1), "precision": summary.get("precision")}
        print(json.dumps({dtype: results[dtype]}), flush=True)
    results["features"] = compare(args.work / "cache")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
