"""Calibration and attribution on easy-VQA: temperature scaling of a short and a long run, and what explaining costs.

    python benchmarks/calibration.py [--epochs 3 30] [--out runs/calibration]

Trains the demo configuration (examples/easy_vqa.yaml: frozen EfficientNet-Lite0 + MiniLM-L6, attention fusion,
``train.calibration: temperature``) for each number of epochs, with early stopping off, and evaluates each run
on the test split. For each: test accuracy, the fitted temperature, ECE / adaptive ECE / Brier score before and
after scaling (the same logits, so the argmax and accuracy are those of the run either way), the reliance on each
input (exact Shapley values, 2^2 coalitions) and the seconds evaluate takes with and without ``explain``.
Prints a markdown table; writes calibration.json in ``--out``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import mmfusion
from mmfusion.io import write_json_atomic

HERE = Path(__file__).resolve().parent


def one(epochs: int, out: Path) -> dict:
    spec = mmfusion.load_spec(HERE.parent / "examples" / "easy_vqa.yaml")
    spec = spec.model_copy(update={"train": spec.train.model_copy(update={"epochs": epochs, "early_stopping": None})})
    run = out / f"epochs-{epochs}"
    if not (run / "summary.json").exists():
        mmfusion.fit(spec, out=run, progress=False)
    timed = {}
    for explain in (False, True):
        started = time.perf_counter()
        report = mmfusion.evaluate(run, out=run / "eval" / f"explain-{explain}", explain=explain)
        timed[explain] = time.perf_counter() - started
    cal = report.calibration
    accuracy_before = report.accuracy  # temperature keeps the argmax: the uncalibrated accuracy is the same
    return {"epochs": epochs, "best_epoch": json.loads((run / "summary.json").read_text())["best_epoch"],
            "accuracy": accuracy_before, "temperature": cal["temperature"][0],
            "before": cal["uncalibrated"], "after": {k: cal[k] for k in ("ece", "adaptive_ece", "brier")},
            "reliance": report.reliance["share"], "reliance_per_class": report.reliance["per_class"],
            "evaluate_seconds": timed[False], "evaluate_explain_seconds": timed[True]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, nargs="+", default=[3, 30])
    parser.add_argument("--out", type=Path, default=Path("runs/calibration"))
    args = parser.parse_args()
    rows = [one(e, args.out) for e in args.epochs]
    write_json_atomic(args.out / "calibration.json", rows)
    print("| epochs (best) | test accuracy | T | ECE before → after | adaptive ECE | Brier | reliance image / text |"
          " evaluate s (explain) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        b, a = r["before"], r["after"]
        print(f"| {r['epochs']} ({r['best_epoch']}) | {r['accuracy']:.4f} | {r['temperature']:.3f} | "
              f"{b['ece']:.4f} → {a['ece']:.4f} | {b['adaptive_ece']:.4f} → {a['adaptive_ece']:.4f} | "
              f"{b['brier']:.4f} → {a['brier']:.4f} | {r['reliance']['image']:.1%} / {r['reliance']['text']:.1%} | "
              f"{r['evaluate_seconds']:.1f} ({r['evaluate_explain_seconds']:.1f}) |")


if __name__ == "__main__":
    main()
