"""Sweep reports: mean ± std per variant, ties named, undefined values skipped, curves plotted in sweep order."""

from __future__ import annotations

import math
from pathlib import Path

from mmfusion.sweep.report import aggregate, results_markdown, write_reports


def _record(variant: str, seed: int, accuracy: float, inputs: list[str], robustness: float = 0.9) -> dict:
    return {"variant": variant, "seed": seed, "inputs": inputs, "accuracy": accuracy, "macro_f1": accuracy,
            "without": {m: 0.5 for m in inputs if len(inputs) > 1}, "trainable_parameters": 10, "parameters": 10,
            "train_seconds": 1.0, "wall_seconds": 1.0, "run_dir": "x",
            "corruption_curves": [{"modality": inputs[0], "corruption": "noise", "intensity": i, "accuracy": accuracy}
                                  for i in (0.0, 0.5)],
            "corruption_summary": [{"modality": inputs[0], "corruption": "noise", "relative_robustness": robustness}]}


RECORDS = [
    _record("image only", 0, 0.5, ["image"]), _record("image only", 1, 0.6, ["image"]),
    _record("film", 0, 0.9, ["image", "text"]), _record("film", 1, 0.9, ["image", "text"]),
    _record("tensor", 0, 0.95, ["image", "text"]), _record("tensor", 1, 0.85, ["image", "text"],
                                                           robustness=math.nan),
]
ORDER = ["image only", "tensor", "film"]


def test_ties_are_named_and_the_steadier_variant_wins() -> None:
    markdown = results_markdown(aggregate(RECORDS, ORDER, ["image", "text"]), ["image", "text"])
    assert "Best fused variant *film* (0.9000, tied with *tensor*)" in markdown
    assert "| image only | 2 | 0.5500 ± 0.0707 |" in markdown
    assert "trivially 'robust'" in markdown


def test_an_undefined_robustness_hides_no_other_seed(tmp_path: Path) -> None:
    markdown = results_markdown(aggregate(RECORDS, ORDER, ["image", "text"]), ["image", "text"])
    tensor_row = next(line for line in markdown.splitlines() if line.startswith("| tensor | 0.900"))
    assert "0.900 ± 0.000" in tensor_row  # the NaN seed is skipped, the other one counts
    files = write_reports(tmp_path, RECORDS, ORDER, ["image", "text"])
    assert Path(files["corruption_curves"]).stat().st_size > 1000


def _multilabel_record(variant: str, seed: int, micro: float, inputs: list[str]) -> dict:
    metrics = {"micro_f1": micro, "macro_f1": micro - 0.01, "weighted_f1": micro, "samples_f1": micro, "map": 0.9,
               "subset_accuracy": micro / 2}
    without = {m: {**metrics, "micro_f1": 0.5, "macro_f1": 0.4} for m in inputs if len(inputs) > 1}
    return {"variant": variant, "seed": seed, "inputs": inputs, "task": "multilabel", "metrics": metrics,
            "accuracy": metrics["subset_accuracy"], "macro_f1": metrics["macro_f1"],
            "without": {m: v["micro_f1"] for m, v in without.items()}, "without_metrics": without,
            "trainable_parameters": 10, "parameters": 10, "train_seconds": 1.0, "wall_seconds": 1.0, "run_dir": "x"}


def test_multilabel_reports_use_the_tasks_metrics_and_rank_by(tmp_path: Path) -> None:
    import csv

    records = [_multilabel_record("image only", 0, 0.7, ["image"]), _multilabel_record("concat", 0, 0.95,
                                                                                       ["image", "text"])]
    files = write_reports(tmp_path, records, ["image only", "concat"], ["image", "text"], task="multilabel")
    markdown = Path(files["markdown"]).read_text()
    assert "| variant | seeds | micro-F1 | macro-F1 | weighted-F1 | samples-F1 | mAP | subset accuracy |" in markdown
    assert "+0.2500 micro-F1 — fusion pays" in markdown
    rows = list(csv.DictReader(Path(files["csv"]).open()))
    assert rows[1]["micro_f1_without_text"] == "0.5" and rows[0]["micro_f1_without_text"] == ""
    by_macro = write_reports(tmp_path / "macro", records, ["image only", "concat"], ["image", "text"],
                             task="multilabel", rank_by="macro_f1")
    assert "+0.2500 macro-F1 — fusion pays" in Path(by_macro["markdown"]).read_text()
    assert "macro_f1_without_image" in Path(by_macro["csv"]).read_text().splitlines()[0]
