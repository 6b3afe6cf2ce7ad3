"""Disk use of a sweep whose runs share frozen pretrained encoders: what each run directory holds.

The sweep is small and real: EfficientNet-Lite0 (ImageNet weights from the offline package, 128 px) and
MiniLM-L6 (from its package), both frozen as in examples/easy_vqa.yaml, on 120 generated XOR rows
(image + text), three fusions × two seeds, two epochs each, evaluated as `mmfusion ablate` does. Each
code checkout given runs the same sweep in its own child process (``PYTHONPATH`` set to it); the
feature cache is shared and left out of the figures (it is one per machine, not one per run).

    git worktree add /tmp/mmfusion-before <commit before the change>
    python benchmarks/sweep_disk.py --code before=/tmp/mmfusion-before --code after=.

Prints, per checkout, the bytes of the sweep's run directories by kind of file and per run, and the
ratio of the first checkout's total to each other's, as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
FUSIONS = {"concat": {"type": "concat", "projection_dim": 64}, "gated": {"type": "gated", "dim": 64},
           "attention": {"type": "attention", "dim": 64, "num_heads": 4}}


def _base(work: Path) -> Path:
    sys.path.insert(0, str(ROOT))
    from mmfusion.testing.data import make_xor_dataset

    data = make_xor_dataset(work / "data", n=120, image_size=64)
    easy_vqa = yaml.safe_load((ROOT / "examples" / "easy_vqa.yaml").read_text(encoding="utf-8"))
    spec = {"model": {"encoders": easy_vqa["model"]["encoders"], "fusion": FUSIONS["concat"],
                      "head": {"type": "mlp", "hidden_dims": [64]}},
            "data": {"source": {"type": "csv", "train": str(data)}, "split": {"validation": 0.2, "test": 0.2}},
            "train": {"epochs": 2, "batch_size": 16, "lr": 0.001, "cache_dir": str(work / "cache")}}
    path = work / "base.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    sweep = {"base": str(path), "seeds": [0, 1], "baselines": False,
             "variants": [{"name": name, "set": {"model.fusion": fusion}} for name, fusion in FUSIONS.items()]}
    sweep_path = work / "sweep.yaml"
    sweep_path.write_text(yaml.safe_dump(sweep, sort_keys=False), encoding="utf-8")
    return sweep_path


def _kind(path: Path, run: Path) -> str:
    relative = path.relative_to(run)
    if relative.parts[0] in ("checkpoints", "eval", "plots"):
        return relative.parts[0] + "/"
    return relative.name if relative.suffix == ".safetensors" or relative.name == "frozen_weights.json" else "other"


def _measure(out: Path) -> dict[str, object]:
    runs = [p.parent for p in out.glob("runs/*/seed-*/spec.yaml")]
    kinds: Counter[str] = Counter()
    for run in runs:
        for path in run.rglob("*"):
            if path.is_file():
                kinds[_kind(path, run)] += path.stat().st_size
    total = sum(kinds.values())
    return {"runs": len(runs), "total_mb": round(total / 1e6, 2), "per_run_mb": round(total / 1e6 / len(runs), 2),
            "by_kind_mb": {k: round(v / 1e6, 3) for k, v in sorted(kinds.items())}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--code", action="append", default=[], metavar="LABEL=DIR",
                        help="a checkout to run the sweep with (repeatable; default: this one, as 'this')")
    parser.add_argument("--work", type=Path, default=Path("bench-runs/sweep-disk"))
    args = parser.parse_args()
    checkouts = [tuple(c.split("=", 1)) for c in args.code] or [("this", str(ROOT))]
    if args.work.exists():
        shutil.rmtree(args.work)
    args.work.mkdir(parents=True)
    sweep = _base(args.work.resolve())
    results: dict[str, dict[str, object]] = {}
    for label, code in checkouts:
        out = args.work.resolve() / f"sweep-{label}"
        env = {**os.environ, "PYTHONPATH": str(Path(code).resolve()), "HF_HUB_OFFLINE": "1"}
        started = time.perf_counter()
        # run in the checkout: `python -m` puts the working folder first on sys.path, before PYTHONPATH
        done = subprocess.run([sys.executable, "-m", "mmfusion", "ablate", str(sweep), "--out", str(out), "--quiet"],
                              capture_output=True, text=True, env=env, cwd=Path(code).resolve())
        if done.returncode != 0:
            raise SystemExit(f"the sweep with {label} ({code}) failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        used = subprocess.run([sys.executable, "-c", "import mmfusion; print(mmfusion.__file__)"], capture_output=True,
                              text=True, env=env, cwd=Path(code).resolve()).stdout.strip()
        results[label] = {**_measure(out), "code": used, "seconds": round(time.perf_counter() - started, 1)}
    first = results[checkouts[0][0]]["total_mb"]
    for result in results.values():
        result["ratio_to_first"] = round(first / result["total_mb"], 2)  # type: ignore[operator]
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
