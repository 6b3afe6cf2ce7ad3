"""Wall time of one ablation sweep run by 1 worker and by N workers sharing it through one study database.

The sweep is real: easy-VQA with the frozen EfficientNet-Lite0 + MiniLM-L6 encoders of examples/easy_vqa.yaml
(features cached once, before anything is timed), concat and attention fusion × two seeds. Each configuration
runs ``mmfusion ablate SWEEP --storage sqlite:///...`` as separate worker processes into a fresh output folder;
with N workers each process gets cores / N intra-op threads (``OMP_NUM_THREADS``), so that the workers share
the machine instead of fighting over it. Each run is trained once whatever the number of workers; its figures
match one worker's up to the rounding of the thread count (sums split over 2 threads or 1 add up in another
order; with equal threads they are identical, which tests/sweep/test_shared.py checks).

    python benchmarks/sweep_workers.py --workers 1 2 [--epochs 1] [--train-rows 8000]

Prints one JSON object: wall seconds per worker count, the ratio to one worker, the threads each worker used and
the largest difference of a run's test accuracy from the first configuration's.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ("variant", "seed", "accuracy", "macro_f1")


def _write_sweep(work: Path, epochs: int, train_rows: int | None) -> Path:
    spec = yaml.safe_load((ROOT / "examples" / "easy_vqa.yaml").read_text(encoding="utf-8"))
    spec["train"].update(epochs=epochs, cache_dir=str(work / "cache"))
    spec["train"].pop("calibration", None)
    if train_rows:
        spec["data"]["limit"] = {"train": train_rows, "test": max(1, train_rows // 4)}
    base = work / "base.yaml"
    base.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    sweep = {"base": str(base), "seeds": [0, 1], "baselines": False, "report": {"resamples": 0},
             "variants": [{"name": "concat", "set": {"model.fusion": {"type": "concat", "projection_dim": 256}}},
                          {"name": "attention"}]}
    path = work / "sweep.yaml"
    path.write_text(yaml.safe_dump(sweep, sort_keys=False), encoding="utf-8")
    return path


def _run(sweep: Path, out: Path, workers: int) -> float:
    threads = max(1, (os.cpu_count() or 1) // workers)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    command = [sys.executable, "-m", "mmfusion", "ablate", str(sweep), "--out", str(out), "--quiet",
               "--storage", f"sqlite:///{out / 'study.db'}"]
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    processes = [subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                 for _ in range(workers)]
    errors = [p.communicate()[1] for p in processes]
    if any(p.returncode for p in processes):
        raise SystemExit(f"a worker failed:\n{errors}")
    return time.perf_counter() - started


def _table(out: Path) -> list[tuple[str, ...]]:
    return [tuple(row[c] for c in COLUMNS) for row in csv.DictReader((out / "results.csv").open())]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--train-rows", type=int, default=None, help="Train on this many rows (default: all).")
    parser.add_argument("--work", type=Path, default=Path("/tmp/mmfusion-sweep-workers"))
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    sweep = _write_sweep(args.work, args.epochs, args.train_rows)
    # cache the frozen encoders' features first: every configuration then starts from the same warm cache
    warm = subprocess.run([sys.executable, "-m", "mmfusion", "train", str(args.work / "base.yaml"), "--out",
                           str(args.work / "warm")], capture_output=True, text=True)
    if warm.returncode and "already holds a run" not in warm.stderr:
        raise SystemExit(warm.stderr)
    seconds, tables = {}, {}
    for workers in args.workers:
        out = args.work / f"workers-{workers}-{int(time.time())}"
        seconds[workers] = round(_run(sweep, out, workers), 1)
        tables[workers] = _table(out)
    first = args.workers[0]
    cores = os.cpu_count() or 1
    differences = {w: max(abs(float(a[2]) - float(b[2])) for a, b in zip(tables[first], t))
                   for w, t in tables.items()}
    print(json.dumps({"cores": cores, "runs": len(tables[first]), "epochs": args.epochs,
                      "train_rows": args.train_rows or "all", "wall_seconds": seconds,
                      "ratio_to_first": {w: round(s / seconds[first], 2) for w, s in seconds.items()},
                      "threads_per_worker": {w: max(1, cores // w) for w in seconds},
                      "same_runs": all([r[:2] for r in t] == [r[:2] for r in tables[first]] for t in tables.values()),
                      "max_accuracy_difference": {w: round(d, 5) for w, d in differences.items()}}, indent=2))


if __name__ == "__main__":
    main()
