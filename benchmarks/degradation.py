"""Graceful degradation on easy-VQA: every run of a sweep evaluated on the plain and on each shifted test set.

The sweep (examples/ablation_degradation.yaml) trains on plain easy-VQA; the shifts (``data.source.test_shift``)
change only the test split, so each run is evaluated on every shifted test set without training again:

    mmfusion ablate examples/ablation_degradation.yaml --out runs/ablation-degradation
    python benchmarks/degradation.py runs/ablation-degradation [--shifts none render night noise paraphrase]

For each test set and variant: accuracy (mean ± std over seeds), the paired bootstrap over test rows against the
best single input *on that set* (the text-only or image-only baseline of the same sweep), the accuracy with each
input removed against the single-input baseline that is left (flagged when more than 1 point below), the drift
AUROC of each input and the share of rows the quality gate answered without an input. A run evaluated before is
read back from its report. Writes degradation.md and degradation.csv in the sweep folder and prints the tables.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import mmfusion
from mmfusion.default_plugins.easy_vqa_dataset import EasyVQAConfig, EasyVQADataset
from mmfusion.evaluation.predictions import SamplePredictions, read_predictions
from mmfusion.io import write_text_atomic
from mmfusion.sweep import ensemble
from mmfusion.sweep.stats import paired_bootstrap

SHIFTS = ("none", "render", "night", "noise", "paraphrase")
TITLES = {"none": "plain", "render": "render pictures", "night": "night pictures", "noise": "noise pictures",
          "paraphrase": "paraphrased questions"}
#: how far "without X" may fall below the X-left baseline (the issue's bound: 1 point)
TOLERANCE = 0.01


def _evaluated(run: Path, shift: str, test: pd.DataFrame) -> tuple[dict[str, Any], SamplePredictions]:
    folder = run / "eval" / f"easy_vqa-{shift}"
    if not (folder / "report.json").is_file() or not (folder / "predictions.npz").is_file():
        mmfusion.evaluate(run, test, out=folder)
    return json.loads((folder / "report.json").read_text()), read_predictions(folder / "predictions.npz")


def measure(sweep: Path, shifts: tuple[str, ...]) -> tuple[pd.DataFrame, dict[str, dict[str, list[SamplePredictions]]]]:
    """One row per run and test set; the runs' predictions by set and variant."""
    records = [json.loads(p.read_text()) for p in sorted(sweep.glob("runs/*/seed-*/ablation.json"))]
    rows, predictions = [], {}
    for shift in shifts:
        test = EasyVQADataset(EasyVQAConfig(test_shift=shift)).load().test
        predictions[shift] = {}
        for record in records:
            run = sweep / "runs" / Path(record["run_dir"]).parent.name / Path(record["run_dir"]).name
            report, found = _evaluated(run, shift, test)
            accuracy = {r["condition"]: r["accuracy"] for r in report["robustness"]}
            rows.append({"set": shift, "variant": record["variant"], "seed": record["seed"],
                         "inputs": "+".join(record["inputs"]), "accuracy": accuracy["all modalities"],
                         **{f"without_{m}": accuracy.get(f"without {m}") for m in ("image", "text")},
                         **{f"drift_{d['input']}": d["auroc"] for d in report.get("drift", [])},
                         **{f"gated_{g['input']}": g["share"] for g in report.get("gate", [])}})
            predictions[shift].setdefault(record["variant"], []).append(found)
            print(f"{shift:10s} {record['variant']} seed {record['seed']}: {accuracy['all modalities']:.4f}",
                  file=sys.stderr)
    return pd.DataFrame(rows), predictions


def _cell(values: pd.Series) -> str:
    values = values.dropna().astype(float)
    if values.empty:
        return "–"
    return f"{values.mean():.4f} ± {values.std(ddof=1) if len(values) > 1 else 0.0:.4f}"


def set_table(frame: pd.DataFrame, found: dict[str, list[SamplePredictions]], shift: str) -> list[str]:
    """One test set's table, the paired bootstrap against its best single input and the X-left flags."""
    singles = {v: frame[frame["variant"] == v]["accuracy"].mean() for v in ("image only", "text only")
               if v in set(frame["variant"])}
    runs = dict(found)
    members = [runs[v] for v in ("image only", "text only") if v in runs]
    if len(members) == 2:
        averaged = [ensemble.average(pair) for pair in zip(*members)]
        runs[ensemble.NAME] = [a for a in averaged if a is not None]
    best = max(singles, key=singles.get) if singles else None
    order = list(dict.fromkeys(frame["variant"]))
    if ensemble.NAME in runs:
        order.insert(2, ensemble.NAME)
    tests = paired_bootstrap(runs, [(v, best) for v in order if v != best], "accuracy") if best else {}
    lines = [f"### {TITLES.get(shift, shift)}", "",
             f"Best single input: *{best}* ({singles.get(best, float('nan')):.4f}).", "",
             "| variant | accuracy | Δ vs best single input [95 % CI] | p | without image | without text | "
             "drift AUROC image / text | gate dropped image / text |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for variant in order:
        rows = frame[frame["variant"] == variant]
        if variant == ensemble.NAME:
            accuracy = float(np.mean([(r.probabilities.argmax(1) == r.labels).mean() for r in runs[variant]]))
            cells = [f"{accuracy:.4f}", *_versus(tests.get((variant, best)), variant == best), "–", "–", "–", "–"]
        else:
            without = []
            for removed, left in (("image", "text only"), ("text", "image only")):
                value = rows[f"without_{removed}"].dropna().astype(float)
                flag = (" **below**" if not value.empty and left in singles
                        and value.mean() < singles[left] - TOLERANCE else "")
                without.append(_cell(value) + flag)
            drift = " / ".join(_cell(rows[f"drift_{m}"]).split(" ±")[0] if f"drift_{m}" in rows else "–"
                               for m in ("image", "text"))
            gate = " / ".join(f"{rows[f'gated_{m}'].mean():.0%}" if f"gated_{m}" in rows and
                              rows[f"gated_{m}"].notna().any() else "–" for m in ("image", "text"))
            cells = [_cell(rows["accuracy"]), *_versus(tests.get((variant, best)), variant == best), *without,
                     drift, gate]
        lines.append(f"| {variant} | " + " | ".join(cells) + " |")
    return lines + [""]


def _versus(test: Any, reference: bool) -> list[str]:
    if reference:
        return ["(reference)", ""]
    if test is None:
        return ["", ""]
    return [f"{test.difference:+.4f} [{test.low:+.4f}, {test.high:+.4f}]", f"{test.p_value:.3f}"]


def overview(frame: pd.DataFrame, shifts: tuple[str, ...]) -> list[str]:
    """Variants × test sets: mean accuracy, with the cost on the plain set against the same fusion alone."""
    plain = frame[frame["set"] == "none"].groupby("variant")["accuracy"].mean()
    lines = ["| variant | " + " | ".join(TITLES.get(s, s) for s in shifts) + " | cost on plain (points) |",
             "|---|" + "---:|" * (len(shifts) + 1)]
    for variant in dict.fromkeys(frame["variant"]):
        means = [frame[(frame["set"] == s) & (frame["variant"] == variant)]["accuracy"].mean() for s in shifts]
        fusion = variant.split("+")[0]
        cost = (f"{100 * (plain[variant] - plain[fusion]):+.2f}" if "+" in variant and fusion in plain
                and variant in plain else "")
        lines.append(f"| {variant} | " + " | ".join(f"{m:.4f}" for m in means) + f" | {cost} |")
    return lines + [""]


def examples_figure(path: Path, images: int = 6) -> Path:
    """The first test pictures in every look, one row per picture shift, with a paraphrased question each."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    styles = ("none", "render", "night", "noise")
    tables = {s: EasyVQADataset(EasyVQAConfig(test_shift=s)).load().test for s in (*styles, "paraphrase")}
    firsts = tables["none"].drop_duplicates("image_id").index[:images]
    figure, axes = plt.subplots(len(styles), images, figsize=(1.6 * images, 1.75 * len(styles) + 0.4))
    for i, style in enumerate(styles):
        for j, row in enumerate(firsts):
            axis = axes[i][j]
            with Image.open(tables[style].loc[row, "image"]) as picture:
                axis.imshow(picture.convert("RGB"))
            axis.set_xticks([])
            axis.set_yticks([])
            if j == 0:
                axis.set_ylabel(TITLES[style].replace(" pictures", ""), fontsize=9)
            if i == 0:
                axis.set_title(tables["none"].loc[row, "question"], fontsize=6, wrap=True)
            if i == len(styles) - 1:
                axis.set_xlabel(tables["paraphrase"].loc[row, "question"], fontsize=6, wrap=True)
    figure.suptitle("easy-VQA test pictures: plain, render, night, noise (top: a question; bottom: its paraphrase)",
                    fontsize=9)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=130)
    plt.close(figure)
    return path


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep", type=Path)
    parser.add_argument("--shifts", nargs="+", default=list(SHIFTS), choices=SHIFTS)
    parser.add_argument("--figure", type=Path, default=None, help="Also draw the shifted pictures into this PNG.")
    args = parser.parse_args(argv)
    if args.figure is not None:
        examples_figure(args.figure)
    shifts = tuple(args.shifts)
    frame, found = measure(args.sweep, shifts)
    write_text_atomic(args.sweep / "degradation.csv", frame.to_csv(index=False))
    lines = ["## Accuracy on each test set (mean over seeds)", "", *overview(frame, shifts)]
    for shift in shifts:
        lines += set_table(frame[frame["set"] == shift], found[shift], shift)
    text = "\n".join(lines)
    write_text_atomic(args.sweep / "degradation.md", text)
    return text


if __name__ == "__main__":
    print(main())
