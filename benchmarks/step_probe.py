"""Probes of one training step of the article model, outside the trainer: the cost of new batch shapes, and
torch.compile against eager, on fixed generated batches (ResNet50 + BERT-base-sized encoder, batch 8).

    python benchmarks/step_probe.py shapes [--precision bf16]   # 4 text lengths, 3 rounds: first time vs again
    python benchmarks/step_probe.py compile [--precision bf16]  # eager, then torch.compile, on one batch shape

Prints seconds per step.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
WORDS = "a red cotton shirt with long sleeves for the summer and a book about cooking at home".split()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["shapes", "compile"])
    parser.add_argument("--precision", choices=["bf16", "fp32"], default="bf16")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    import mmfusion
    from mmfusion.inference.backends import channels_last_inputs, prepare_batch
    from mmfusion.model.builder import build_model
    from mmfusion.model.featurizer import make_batch

    torch.manual_seed(0)
    model = build_model(mmfusion.load_spec(ROOT / "examples" / "article_resnet50_bert.yaml"), 4)
    model.train()
    chosen = channels_last_inputs(model, True)
    rng = np.random.default_rng(0)

    def batch_of(words: int):  # type: ignore[no-untyped-def]
        rows = [{"image": Image.fromarray(rng.integers(0, 255, (256, 256, 3), dtype=np.uint8)),
                 "text": " ".join(rng.choice(WORDS, words))} for _ in range(8)]
        return prepare_batch(make_batch(model, rows, [0, 1, 2, 3] * 2), torch.device("cpu"), chosen)

    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-5, fused=True)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step(run: torch.nn.Module, batch) -> float:  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.precision == "bf16"):
            logits = run(batch)
        loss_fn(logits.float(), batch.labels).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return time.perf_counter() - started

    if args.mode == "shapes":
        batches = [batch_of(n) for n in (30, 45, 60, 75)]
        lengths = [int(b.inputs["text"]["input_ids"].shape[1]) for b in batches]
        for round_ in range(3):
            print(f"{args.precision} round {round_}: tokens {lengths}: s/step",
                  [round(step(model, b), 2) for b in batches], flush=True)
        return
    batch = batch_of(40)
    for name, run in (("eager", model), ("compiled", torch.compile(model))):
        first = step(run, batch)
        for _ in range(2):
            step(run, batch)
        seconds = sum(step(run, batch) for _ in range(4)) / 4
        print(f"{args.precision} {name}: first step {first:.2f} s, then {seconds:.3f} s/step", flush=True)


if __name__ == "__main__":
    main()
