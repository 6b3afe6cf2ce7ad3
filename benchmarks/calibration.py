"""Calibration and attribution on easy-VQA: temperature scaling of short, long and over-fitted runs, and what
explaining costs.

    python benchmarks/calibration.py [--epochs 3 30] [--limited 2000:60] [--out runs/calibration]

Trains the demo configuration (examples/easy_vqa.yaml: frozen EfficientNet-Lite0 + MiniLM-L6, attention fusion,
``train.calibration: temperature``) for each number of epochs with early stopping off, and (``--limited``) on a
random subset of the training rows for longer, then evaluates each run on the test split. For each: test
accuracy, the fitted temperature, ECE / adaptive ECE / Brier score / log loss before and after scaling (the same
logits, so the argmax and accuracy are the run's either way), the reliance on each input (exact Shapley values,
2^2 coalitions) and the seconds ``evaluate`` takes without and with ``explain``. Prints a markdown table; writes
calibration.json in ``--out``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import mmfusion
from mmfusion.io import write_json_atomic

HERE = Path(__file__).resolve().parent
MEASURES = ("ece", "adaptive_ece", "brier", "log_loss")


def one(epochs: int, out: Path, train_rows: int | None = None) -> dict[str, Any]:
    spec = mmfusion.load_spec(HERE.parent / "examples" / "easy_vqa.yaml")
    spec = spec.model_copy(update={"train": spec.train.model_copy(update={"epochs": epochs, "early_stopping": None})})
    if train_rows:  # few rows trained long: a model that memorises them, over-confident on new ones
        limit = spec.data.limit.model_copy(update={"train": train_rows})
        spec = spec.model_copy(update={"data": spec.data.model_copy(update={"limit": limit})})
    run = out / (f"epochs-{epochs}" + (f"-rows-{train_rows}" if train_rows else ""))
    if not (run / "summary.json").exists():
        mmfusion.fit(spec, out=run, progress=False)
    timed = {}
    for explain in (False, True):
        started = time.perf_counter()
        report = mmfusion.evaluate(run, out=run / "eval" / f"explain-{explain}", explain=explain)
        timed[explain] = time.perf_counter() - started
    cal = report.calibration
    summary = json.loads((run / "summary.json").read_text())
    return {"epochs": epochs, "train_rows": train_rows, "best_epoch": summary["best_epoch"],
            "accuracy": report.accuracy, "temperature": cal["temperature"][0],
            "before": cal["uncalibrated"], "after": {k: cal[k] for k in MEASURES},
            "reliance": report.reliance["share"], "reliance_per_class": report.reliance["per_class"],
            "evaluate_seconds": timed[False], "evaluate_explain_seconds": timed[True]}


def table(rows: list[dict[str, Any]]) -> list[str]:
    lines = ["| training rows | epochs (best) | test accuracy | T | ECE | adaptive ECE | Brier | log loss | "
             "reliance image / text | evaluate s (with explain) |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        before, after = r["before"], r["after"]
        changes = " | ".join(f"{before[k]:.4f} → {after[k]:.4f}" for k in MEASURES)
        lines.append(f"| {r['train_rows'] or 'all'} | {r['epochs']} ({r['best_epoch']}) | {r['accuracy']:.4f} | "
                     f"{r['temperature']:.3f} | {changes} | {r['reliance']['image']:.1%} / "
                     f"{r['reliance']['text']:.1%} | {r['evaluate_seconds']:.1f} "
                     f"({r['evaluate_explain_seconds']:.1f}) |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, nargs="*", default=[3, 30])
    parser.add_argument("--limited", nargs="*", default=["2000:60"], metavar="ROWS:EPOCHS",
                        help="runs on a random subset of the training rows (data.limit.train), trained long")
    parser.add_argument("--out", type=Path, default=Path("runs/calibration"))
    args = parser.parse_args()
    rows = [one(e, args.out) for e in args.epochs]
    rows += [one(int(e), args.out, int(n)) for n, e in (item.split(":") for item in args.limited)]
    write_json_atomic(args.out / "calibration.json", rows)
    print("\n".join(table(rows)))


if __name__ == "__main__":
    main()
