"""Evaluate every run of the easy-VQA shift sweep on the PLAIN easy-VQA test set, beside its shift results.

The shift sweep (examples/ablation_shift.yaml) trains on plain easy-VQA; only its test pictures are
re-rendered. So each of its runs is also a plain easy-VQA run, and evaluating it on the package's own test
pictures gives the clean figures without training anything twice.

    python examples/shift_clean_eval.py runs/ablation-shift

It reads the runs' records (runs/<variant>/seed-<N>/ablation.json), so it can run beside a sweep that is
still going; a run evaluated before is read back from its report. Writes plain_test.csv (one row per run)
and shift_vs_plain.md (mean ± std per variant) in the sweep folder, and prints the table.
"""

from __future__ import annotations

import json
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
    records = [json.loads(path.read_text()) for path in sorted(sweep.glob("runs/*/seed-*/ablation.json"))]
    order = {name: k for k, name in enumerate(["image only", "text only"])}
    records.sort(key=lambda r: (order.get(r["variant"], 2), r["variant"], r["seed"]))
    test = None
    shift_rows, rows = [], []
    for record in records:
        run = sweep / "runs" / Path(record["run_dir"]).parent.name / Path(record["run_dir"]).name
        saved = run / "eval" / "easy_vqa-plain" / "report.json"
        if saved.is_file():
            robustness = json.loads(saved.read_text())["robustness"]
        else:
            test = EasyVQADataset(EasyVQAConfig()).load().test if test is None else test
            robustness = mmfusion.evaluate(run, test, out=saved.parent).robustness
        accuracy = {r["condition"]: r["accuracy"] for r in robustness}
        rows.append({"variant": record["variant"], "seed": record["seed"], "accuracy": accuracy["all modalities"],
                     "accuracy_without_image": accuracy.get("without image"),
                     "accuracy_without_text": accuracy.get("without text")})
        shift_rows.append({"variant": record["variant"], "accuracy": record["accuracy"],
                           **{f"accuracy_without_{m}": v for m, v in record["without"].items()}})
        print(f"{record['variant']} seed {record['seed']}: {accuracy['all modalities']:.4f}", file=sys.stderr)
    shift = pd.DataFrame(shift_rows).reindex(columns=["variant", "accuracy", "accuracy_without_image",
                                                      "accuracy_without_text"])
    plain = pd.DataFrame(rows)
    write_text_atomic(sweep / "plain_test.csv", plain.to_csv(index=False))
    lines = ["| variant | shift: accuracy | shift: without image | shift: without text | easy-VQA: accuracy | "
             "easy-VQA: without image | easy-VQA: without text |", "|---|---:|---:|---:|---:|---:|---:|"]
    for variant in shift["variant"].drop_duplicates():
        s, p = shift[shift["variant"] == variant], plain[plain["variant"] == variant]
        cells = [_cell(s[c].astype(float)) for c in ("accuracy", "accuracy_without_image", "accuracy_without_text")]
        cells += [_cell(p[c].astype(float)) for c in ("accuracy", "accuracy_without_image", "accuracy_without_text")]
        lines.append(f"| {variant} | " + " | ".join(cells) + " |")
    table = "\n".join(lines) + "\n"
    write_text_atomic(sweep / "shift_vs_plain.md", table)
    return table


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python examples/shift_clean_eval.py SWEEP_FOLDER")
    print(main(Path(sys.argv[1])))
