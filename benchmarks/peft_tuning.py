"""Fine-tuning the text encoder cheaply: LoRA against full fine-tuning and a frozen encoder, on easy-VQA.

    python benchmarks/peft_tuning.py [--variants frozen lora full] [--epochs 3] [--train-rows N] [--test-rows N]
                              [--r 8] [--out bench-runs/peft] [--json peft.json]

The demo configuration (examples/easy_vqa.yaml: EfficientNet-Lite0 frozen and cached, MiniLM-L6 text encoder,
attention fusion) with the text encoder frozen (cached, the baseline), adapted with LoRA (``peft: {type: lora}``
on query and value; the adapters train at ``train.lr``) or fine-tuned in full (``freeze: false``, at
``train.encoder_lr``). For each: test accuracy, seconds per epoch (the mean of the epochs' training time), the
trainable parameters, the run directory's size and its weights file's, and the ratios against frozen. A quick
check: ``--train-rows 400 --test-rows 200 --epochs 1``. (Not named peft.py: run as a script, its folder comes first
on ``sys.path`` and the file would stand in for the peft library.)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import mmfusion

HERE = Path(__file__).resolve().parent

#: how each variant sets the text encoder (the rest of the spec is the demo's)
VARIANTS: dict[str, dict[str, Any]] = {
    "frozen": {"freeze": True},
    "lora": {"freeze": False, "peft": {"type": "lora", "r": 8, "alpha": 16}},
    "full": {"freeze": False},
}


def variant_spec(name: str, *, epochs: int | None, train_rows: int | None, test_rows: int | None,
                 r: int) -> mmfusion.Spec:
    raw = mmfusion.load_spec(HERE.parent / "examples" / "easy_vqa.yaml").model_dump(mode="json")
    text = {**raw["model"]["encoders"]["text"], **VARIANTS[name]}
    if text.get("peft"):
        text["peft"] = {**text["peft"], "r": r, "alpha": 2 * r}
    raw["model"]["encoders"]["text"] = text
    raw["train"]["early_stopping"] = None
    raw["train"]["calibration"] = None
    if epochs:
        raw["train"]["epochs"] = epochs
    limit = {k: v for k, v in (("train", train_rows), ("test", test_rows)) if v}
    if limit:
        raw["data"]["limit"] = limit
    return mmfusion.load_spec(raw)


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def one(name: str, out: Path, **options: Any) -> dict[str, Any]:
    run = out / name
    if not (run / "summary.json").exists():
        mmfusion.fit(variant_spec(name, **options), out=run, progress=False)
    summary = json.loads((run / "summary.json").read_text())
    epochs = summary["epochs_run"]
    text = next(c for c in summary["components"] if c["component"] == "encoder text")
    return {"variant": name, "test_accuracy": (summary.get("test") or {}).get("accuracy"),
            "seconds_per_epoch": round(summary["train_seconds"] / max(1, epochs), 1), "epochs": epochs,
            "trainable_parameters": summary["trainable_parameters"], "text_encoder_trainable": text["trainable"],
            "text_encoder_parameters": text["parameters"], "run_dir_bytes": _size(run),
            "weights_bytes": (run / "weights.safetensors").stat().st_size}


def table(rows: list[dict[str, Any]]) -> list[str]:
    base = next((r for r in rows if r["variant"] == "frozen"), rows[0])
    lines = ["| text encoder | test accuracy | s / epoch (× frozen) | trainable parameters (text encoder) | "
             "run directory (weights.safetensors) |", "|---|---:|---:|---:|---:|"]
    for r in rows:
        accuracy = "–" if r["test_accuracy"] is None else f"{r['test_accuracy']:.4f}"
        speed = r["seconds_per_epoch"] / max(base["seconds_per_epoch"], 1e-9)
        lines.append(f"| {r['variant']} | {accuracy} | {r['seconds_per_epoch']:.1f} ({speed:.2f}×) | "
                     f"{r['trainable_parameters']:,} ({r['text_encoder_trainable']:,} of "
                     f"{r['text_encoder_parameters']:,}) | {r['run_dir_bytes'] / 1e6:.1f} MB "
                     f"({r['weights_bytes'] / 1e6:.2f} MB) |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--epochs", type=int, default=None, help="default: the demo's (3)")
    parser.add_argument("--train-rows", type=int, default=None, help="a seeded random subset (data.limit.train)")
    parser.add_argument("--test-rows", type=int, default=None, help="a seeded random subset (data.limit.test)")
    parser.add_argument("--r", type=int, default=8, help="LoRA rank (alpha = 2r)")
    parser.add_argument("--out", type=Path, default=Path("bench-runs/peft"))
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    rows = []
    for name in args.variants:
        rows.append(one(name, args.out, epochs=args.epochs, train_rows=args.train_rows, test_rows=args.test_rows,
                        r=args.r))
        print(json.dumps(rows[-1]), flush=True)
    print()
    print("\n".join(table(rows)))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
