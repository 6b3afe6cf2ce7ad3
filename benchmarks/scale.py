"""Scale: seconds per phase and peak memory at 10k, 100k and 1M rows of image + text, frozen encoders.

Synthetic rows (``image`` path, ``text``, ``label``): ``--distinct-images`` 32×32 PNGs (10,000 by default) that
the rows repeat, and a text of its own for every row (so the text encoder runs once per row). The label is the
pair (image tone, text keyword), so a model that reads both inputs can learn it. The encoders are small and
frozen, their features cached (``test_efficientnet`` from timm, random init, at 32 px; a 2-layer 32-d BERT made
in code), the fusion concat and the head an MLP: what is measured is mmfusion's handling of the rows, not a
big model's arithmetic.

For each size, each phase runs in a fresh child process, so that its peak RSS is its own (``ru_maxrss``):

* ``read``: the spec's tables read and prepared (``load_prepared_tables``);
* ``train``: ``mmfusion.fit`` for one epoch from an empty feature cache. ``extract`` is its data preparation
  (reading, parsing, the frozen encoders over every distinct value), ``epoch`` its training epoch;
* ``evaluate``: ``mmfusion.evaluate`` of the run on the whole table (features from the cache; every row three
  times: all inputs, without image, without text);
* ``predict``: ``mmfusion predict RUN --csv TABLE --output OUT.csv`` (the encoders run live on every row).

Prints a table (seconds, rows/s, peak RSS per phase) and the two targets: time per row at the largest size
within 1.5x of the one before, and peak RSS at 1M rows at most 4 GB.

    python benchmarks/scale.py [--sizes 10000,100000,1000000] [--phases read,train,evaluate,predict]
                               [--work bench-runs/scale] [--threads 1]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _child import emit, parse_value, run_child  # noqa: E402

PHASES = ("read", "train", "evaluate", "predict")
#: the checkout whose mmfusion package the phases run (``--code``)
CODE_ENV = "MMFUSION_SCALE_CODE"
TONES = {"warm": [(220, 40, 30), (240, 120, 20), (200, 30, 120)],
         "cool": [(30, 60, 220), (20, 160, 200), (40, 180, 90)]}
KEYWORDS = {"alpha": ["alpha", "one"], "beta": ["beta", "two"]}
FILLER = ("the a shape image shows small large is in of red blue green round square bright dark light old new "
          "left right top bottom near far big tiny").split()


def make_images(folder: Path, count: int, size: int = 32, seed: int = 0) -> list[str]:
    """``count`` PNGs of a noisy warm or cool colour; returns each one's tone (written once, reused)."""
    import numpy as np
    from PIL import Image

    tones_file = folder / "tones.json"
    if tones_file.exists() and len(json.loads(tones_file.read_text())) == count:
        return json.loads(tones_file.read_text())
    (folder / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    tones = []
    for i in range(count):
        tone = "warm" if i % 2 == 0 else "cool"
        base = np.array(TONES[tone][rng.integers(3)], dtype=np.int16)
        pixels = np.clip(base + rng.integers(-30, 31, size=(size, size, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / "images" / f"{i:05d}.png")
        tones.append(tone)
    tones_file.write_text(json.dumps(tones))
    return tones


def make_table(path: Path, rows: int, tones: list[str], seed: int = 0) -> None:
    """``rows`` rows: a random image, a text of its own (a serial number makes it distinct), the pair label."""
    if path.exists():
        return
    rng = random.Random(seed)
    partial = path.with_suffix(".partial")
    with partial.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "text", "label"])
        for i in range(rows):
            image = rng.randrange(len(tones))
            key = rng.choice(("alpha", "beta"))
            words = rng.sample(FILLER, 5) + [rng.choice(KEYWORDS[key]), f"n{i}"]
            rng.shuffle(words)
            writer.writerow([f"images/{image:05d}.png", " ".join(words), f"{tones[image]}-{key}"])
    partial.rename(path)


def spec(data: Path, bert: Path, cache: Path) -> dict:
    return {
        "model": {"encoders": {"image": {"type": "timm", "model_name": "test_efficientnet", "image_size": 32,
                                         "freeze": True},
                               "text": {"type": "hf_text", "path": str(bert), "freeze": True, "pooling": "mean"}},
                  "fusion": {"type": "concat", "projection_dim": 32},
                  "head": {"type": "mlp", "hidden_dims": [32], "dropout": 0.0}},
        "data": {"source": {"type": "csv", "train": str(data)}, "split": {"validation": 0.0, "test": 0.0}},
        "train": {"epochs": 1, "batch_size": 256, "lr": 0.003, "warmup": 0.0, "cache_dir": str(cache),
                  "num_workers": 0},
    }


def child(phase: str, data: Path, bert: Path, cache: Path, run: Path, threads: int) -> None:
    """Runs in the child process: one phase, timed; prints ``key=value`` lines."""
    os.environ["MMFUSION_CACHE_DIR"] = str(cache)
    if os.environ.get(CODE_ENV):  # before the working directory, which ``python -c`` puts first on the path
        sys.path.insert(0, os.environ[CODE_ENV])
    import torch

    import mmfusion

    emit(package=Path(mmfusion.__file__).resolve().parent)

    if threads:
        torch.set_num_threads(threads)

    the_spec = mmfusion.load_spec(spec(data, bert, cache))
    started = time.perf_counter()
    if phase == "read":
        from mmfusion.data.tables import load_prepared_tables

        prepared = load_prepared_tables(the_spec.data)
        emit(seconds=time.perf_counter() - started, rows=len(prepared.tables["train"]))
    elif phase == "train":
        result = mmfusion.fit(the_spec, out=run)
        summary = json.loads((run / "summary.json").read_text())
        emit(seconds=time.perf_counter() - started, extract=summary["prepare_seconds"],
             epoch=result.history[0]["seconds"])
    elif phase == "evaluate":
        report = mmfusion.evaluate(run, data)
        emit(seconds=time.perf_counter() - started, accuracy=report.accuracy)
    elif phase == "predict":
        from mmfusion.cli import cli  # the command as a user runs it

        out = run.parent / "predictions.csv"
        cli.main(["predict", str(run), "--csv", str(data), "--output", str(out)], prog_name="mmfusion",
                 standalone_mode=False)
        emit(seconds=time.perf_counter() - started)
    else:
        raise SystemExit(f"unknown phase {phase}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--phases", default=",".join(PHASES))
    parser.add_argument("--distinct-images", type=int, default=10_000)
    parser.add_argument("--work", type=Path, default=Path("bench-runs/scale"))
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads in each phase (0: torch's default). One by default: on a few "
                        "cores shared with other work, more threads made the times erratic, not the scaling")
    parser.add_argument("--code", type=Path, default=None,
                        help="run the phases with the mmfusion package of this checkout instead (e.g. a worktree of "
                        "the commit before a change, for a baseline); its runs and caches go to WORK/baseline")
    parser.add_argument("--child", nargs=5, metavar=("PHASE", "DATA", "BERT", "CACHE", "RUN"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], *(Path(p) for p in args.child[1:]), args.threads)
        return
    from mmfusion.testing.tiny_models import write_tiny_bert

    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    bert = write_tiny_bert(work / "tiny-bert")
    tones = make_images(work, args.distinct_images)
    results = []
    phases = args.phases.split(",")
    env = {CODE_ENV: str(args.code.resolve())} if args.code else None
    package = (args.code or Path(__file__).resolve().parents[1]).resolve() / "mmfusion"
    runs = work / "baseline" if args.code else work
    for size in (int(s) for s in args.sizes.split(",")):
        data = work / f"rows-{size}.csv"
        make_table(data, size, tones)
        folder = runs / f"size-{size}"
        if "train" in phases:  # an empty feature cache and a fresh run for every size
            shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True, exist_ok=True)
        row = {"rows": size}
        for phase in phases:
            out, peak = run_child([__file__, "--child", phase, str(data), str(bert), str(folder / "cache"),
                                   str(folder / "run"), "--threads", str(args.threads)], env)
            used = next(line.split("=", 1)[1] for line in out.splitlines() if line.startswith("package="))
            if Path(used) != package:
                raise SystemExit(f"the {phase} phase ran the mmfusion package in {used}, not {package}")
            row[f"{phase}_s"] = round(parse_value(out, "seconds"), 2)
            row[f"{phase}_rss_mb"] = peak
            if phase == "train":
                row["extract_s"] = round(parse_value(out, "extract"), 2)
                row["epoch_s"] = round(parse_value(out, "epoch"), 2)
            print(json.dumps({"rows": size, "phase": phase, "seconds": row[f"{phase}_s"], "peak_rss_mb": peak,
                              "load": round(os.getloadavg()[0], 1)}), flush=True)
        results.append(row)
        (runs / "results.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    print(table(results))


#: the phases of the table, and the seconds each is read from
COLUMNS = (("read", "read_s"), ("extract", "extract_s"), ("train epoch", "epoch_s"), ("evaluate", "evaluate_s"),
           ("predict", "predict_s"))


def table(results: list[dict]) -> str:
    """Markdown: seconds per phase, peak RSS, then each phase's time per row at each size against the one before."""
    shown = [(name, key) for name, key in COLUMNS if any(key in r for r in results)]
    lines = ["| rows | " + " | ".join(f"{name} s" for name, _ in shown) + " | peak RSS (MiB) |",
             "|---:|" + "---:|" * (len(shown) + 1)]
    for r in results:
        peak = max((v for k, v in r.items() if k.endswith("_rss_mb")), default=0)
        lines.append(f"| {r['rows']:,} | " + " | ".join(f"{r[key]:,.1f}" if key in r else "–" for _, key in shown)
                     + f" | {peak:,} |")
    for before, after in zip(results, results[1:]):
        ratios = [f"{name} {(after[key] / after['rows']) / (before[key] / before['rows']):.2f}"
                  for name, key in shown if key in before and key in after and before[key] > 0]
        lines.append(f"\ntime per row, {after['rows']:,} rows against {before['rows']:,} (target <= 1.5): "
                     + ", ".join(ratios))
    return "\n".join(lines)


if __name__ == "__main__":
    main()
