"""Quality benchmark: easy-VQA test accuracy of fusions and unimodal baselines on frozen encoders.

Trains each variant of examples/easy_vqa.yaml (same encoders, same cached features, same schedule)
and prints a table of test accuracy / macro-F1 plus accuracy with each modality removed.

    python benchmarks/easy_vqa_fusions.py [--out bench-runs/easy-vqa] [--epochs 3] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import mmfusion

ROOT = Path(__file__).resolve().parents[1]

VARIANTS: dict[str, dict] = {
    "image only": {"only": "image", "fusion": {"type": "attention", "dim": 128, "num_heads": 4}},
    "text only": {"only": "text", "fusion": {"type": "attention", "dim": 128, "num_heads": 4}},
    "concat": {"fusion": {"type": "concat", "projection_dim": 256}},
    "attention": {"fusion": {"type": "attention", "dim": 128, "num_heads": 4}},
    "missing_modality": {"fusion": {"type": "missing_modality", "modality_dropout": 0.2,
                                    "inner": {"type": "attention", "dim": 128, "num_heads": 4}}},
}


def variant_spec(base: mmfusion.Spec, name: str, epochs: int | None) -> mmfusion.Spec:
    raw = base.model_dump(mode="json")
    options = VARIANTS[name]
    raw["model"]["fusion"] = options["fusion"]
    if "only" in options:
        only = options["only"]
        raw["model"]["encoders"] = {only: raw["model"]["encoders"][only]}
        raw["data"]["columns"] = {only: {"image": "image", "text": "question"}[only]}
    if epochs:
        raw["train"]["epochs"] = epochs
    return mmfusion.load_spec(raw)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("bench-runs/easy-vqa"))
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS))
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    base = mmfusion.load_spec(ROOT / "examples" / "easy_vqa.yaml")
    rows = []
    for name in args.variants:
        spec = variant_spec(base, name, args.epochs)
        out = args.out / name.replace(" ", "_")
        started = time.perf_counter()
        result = mmfusion.fit(spec, out=out, progress=False)
        report = mmfusion.evaluate(out)
        robustness = {r["condition"]: r["accuracy"] for r in report.robustness}
        rows.append({"variant": name, "test_accuracy": report.accuracy, "test_macro_f1": report.macro_f1,
                     "without_image": robustness.get("without image"), "without_text": robustness.get("without text"),
                     "epochs": len(result.history), "seconds": round(time.perf_counter() - started, 1),
                     "trainable_parameters": result.summary["trainable_parameters"]})
        print(json.dumps(rows[-1]), flush=True)
    print()
    print("| variant | test accuracy | macro-F1 | without image | without text | epochs | seconds |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        def fmt(v: float | None) -> str:
            return "–" if v is None else f"{v:.4f}"

        print(f"| {r['variant']} | {fmt(r['test_accuracy'])} | {fmt(r['test_macro_f1'])} | "
              f"{fmt(r['without_image'])} | {fmt(r['without_text'])} | {r['epochs']} | {r['seconds']} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
