"""Training speed by CPU thread count and with torch.compile: what ``train.threads: auto`` is based on.

Trains easy-VQA variants (examples/easy_vqa.yaml: EfficientNet-Lite0 128 px + MiniLM-L6) for two epochs per
setting and reports the seconds of the second epoch (the first may include compile time; it is reported too):

- cached: frozen encoders, features cached; a small concat head, the example's attention fusion, and a concat
  head with a large MLP (the trainable part grows: where a second thread starts to pay);
- fine-tuned: MiniLM fine-tuned on a subset (an encoder runs in every step).

Settings are interleaved (1 thread, 2 threads, ...) so that a change in background load hits all of them.

    python benchmarks/threads.py [--rows 1000] [--cached-rows 8000] [--compile] [--cases NAME ...] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

import mmfusion

ROOT = Path(__file__).resolve().parents[1]

CASES: dict[str, dict[str, Any]] = {
    "cached, concat 256": {"model.fusion": {"type": "concat", "projection_dim": 256}},
    "cached, attention 128 (example)": {},
    "cached, concat + MLP 2048×2048": {"model.fusion": {"type": "concat", "projection_dim": 1024},
                                       "model.head": {"type": "mlp", "hidden_dims": [2048, 2048]}},
    "fine-tuned MiniLM, concat 256": {"model.fusion": {"type": "concat", "projection_dim": 256},
                                      "model.encoders.text.freeze": False, "finetune": True},
}


def spec_for(case: dict[str, Any], threads: int, compile_: bool, rows: int,
             cached_rows: int) -> tuple[mmfusion.Spec, int]:
    raw = mmfusion.load_spec(ROOT / "examples" / "easy_vqa.yaml").model_dump(mode="json")
    for key, value in case.items():
        if key == "finetune":
            continue
        *path, last = key.split(".")
        node = raw
        for part in path:
            node = node[part]
        node[last] = value
    raw["train"].update(epochs=2, threads=threads, compile=compile_, early_stopping=None)
    if case.get("finetune"):
        raw["train"]["batch_size"] = 32
    else:
        raw["data"]["limit"] = {"train": cached_rows}
    return mmfusion.load_spec(raw), rows if case.get("finetune") else 0


def run(name: str, threads: int, compile_: bool, rows: int, cached_rows: int, work: Path) -> dict[str, Any]:
    spec, subset = spec_for(CASES[name], threads, compile_, rows, cached_rows)
    tables: dict[str, Any] = {}
    if subset:
        from mmfusion.data.tables import source_tables

        source = source_tables(spec.data)
        raw = spec.model_dump(mode="json")
        raw["data"].update(label=source.label_column, columns=source.columns)
        spec = mmfusion.load_spec(raw)
        tables = {"train": source.train.head(subset), "validation": source.train.tail(subset // 4),
                  "test": source.test.head(subset // 4) if source.test is not None else None,
                  "image_root": source.root}
    out = Path(tempfile.mkdtemp(dir=work))
    result = mmfusion.fit(spec, out=out, progress=False, **tables)
    epochs = [row["seconds"] for row in result.history]
    return {"case": name, "threads": threads, "compile": compile_, "first_epoch_s": epochs[0],
            "epoch_s": epochs[-1], "train_rows": result.summary["data"]["train"]["rows"],
            "trainable_parameters": result.summary["trainable_parameters"],
            "val_accuracy": result.history[-1].get("val_accuracy")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1000, help="training rows of the fine-tuned case")
    parser.add_argument("--cached-rows", type=int, default=8000, help="training rows of the cached cases")
    parser.add_argument("--compile", action="store_true", help="also time train.compile: true at 2 threads")
    parser.add_argument("--cases", nargs="*", default=list(CASES))
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads by default, "
          f"CPU capability {torch.backends.cpu.get_cpu_capability()}", flush=True)
    settings = [(1, False), (2, False)] + ([(2, True), (1, True)] if args.compile else [])
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for name in args.cases:
            for threads, compile_ in settings:
                started = time.perf_counter()
                rows.append(run(name, threads, compile_, args.rows, args.cached_rows, Path(work)))
                rows[-1]["wall_s"] = round(time.perf_counter() - started, 1)
                print(json.dumps(rows[-1]), flush=True)
    print("\n| case | trainable | threads | compile | epoch 1 s | epoch 2 s |")
    print("|---|---:|---:|---|---:|---:|")
    for r in rows:
        print(f"| {r['case']} | {r['trainable_parameters']:,} | {r['threads']} | {'yes' if r['compile'] else 'no'} | "
              f"{r['first_epoch_s']:.2f} | {r['epoch_s']:.2f} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
