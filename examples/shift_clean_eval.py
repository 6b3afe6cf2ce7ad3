"""Evaluate every run of the easy-VQA shift sweep on the PLAIN easy-VQA test set, beside its shift results.

The shift sweep (examples/ablation_shift.yaml) trains on plain easy-VQA; only its test pictures are
re-rendered. So each of its runs is also a plain easy-VQA run, and evaluating it on the package's own test
pictures gives the clean figures without training anything twice.

    python examples/shift_clean_eval.py runs/ablation-shift

Writes plain_test.csv (one row per run) and shift_vs_plain.md (mean ± std per variant) in the sweep folder,
and prints the table.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

import mmfusion
from mmfusion.default_plugins.easy_vqa_dataset import EasyVQAConfig, EasyVQADataset
from mmfusion.io import write_text_atomic


def _cell(values: pd.Series) -> str:
    values = values.dropna()
    if values.empty:
        return "–"
    return f"{values.mean():.4f} ± {values.std(ddof=1) if len(values) > 1 else 0.0:.4f}"


def main(sweep: Path) -> str:
    shift = pd.read_csv(sweep / "results.csv")
    test = EasyVQADataset(EasyVQAConfig()).load().test
    rows = []
    for record in shift.itertuples():
        report = mmfusion.evaluate(record.run_dir, test, out=Path(record.run_dir) / "eval" / "easy_vqa-plain")
        accuracy = {r["condition"]: r["accuracy"] for r in report.robustness}
        rows.append({"variant": record.variant, "seed": record.seed, "accuracy": accuracy["all modalities"],
                     "accuracy_without_image": accuracy.get("without image"),
                     "accuracy_without_text": accuracy.get("without text")})
        print(f"{record.variant} seed {record.seed}: {accuracy['all modalities']:.4f}", file=sys.stderr)
    plain = pd.DataFrame(rows)
    write_text_atomic(sweep / "plain_test.csv", plain.to_csv(index=False))
    lines = ["| variant | shift: accuracy | shift: without image | shift: without text | easy-VQA: accuracy | "
             "easy-VQA: without image | easy-VQA: without text |", "|---|---:|---:|---:|---:|---:|---:|"]
    for variant in shift["variant"].drop_duplicates():
        s, p = shift[shift["variant"] == variant], plain[plain["variant"] == variant]
        cells = [_cell(s[c]) for c in ("accuracy", "accuracy_without_image", "accuracy_without_text")]
        cells += [_cell(p[c].astype(float)) for c in ("accuracy", "accuracy_without_image", "accuracy_without_text")]
        lines.append(f"| {variant} | " + " | ".join(cells) + " |")
    table = "\n".join(lines) + "\n"
    write_text_atomic(sweep / "shift_vs_plain.md", table)
    return table


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python examples/shift_clean_eval.py SWEEP_FOLDER")
    print(main(Path(sys.argv[1])))
