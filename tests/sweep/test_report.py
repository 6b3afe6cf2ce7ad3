"""Sweep reports: mean ± std per variant, ties named, undefined values skipped, curves plotted in sweep order."""

from __future__ import annotations

import math
from pathlib import Path

from mmfusion.sweep.report import aggregate, results_markdown, write_reports


def _record(variant: str, seed: int, accuracy: float, inputs: list[str], robustness: float = 0.9) -> dict:
    return {"variant": variant, "seed": seed, "inputs": inputs, "metrics": {"accuracy": accuracy, "macro_f1": accuracy},
            "without_metrics": {m: {"accuracy": 0.5} for m in inputs if len(inputs) > 1},
            "trainable_parameters": 10, "parameters": 10,
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
            "without_metrics": without,
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


def test_reports_from_per_sample_predictions(tmp_path: Path) -> None:
    """Ensemble, paired tests, per-class and per-group tables, from predictions.npz files as runs write them."""
    import csv

    import numpy as np

    from mmfusion.evaluation.predictions import SamplePredictions, write_predictions
    from mmfusion.tasks.metrics import task_metrics

    from .test_stats import predictions

    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 300)
    rates = {"image only": 0.6, "text only": 0.65, "concat": 0.95, "film": 0.95}
    records, runs = [], {}
    for variant, rate in rates.items():
        inputs = [variant.split()[0]] if "only" in variant else ["image", "text"]
        for seed in (0, 1):
            run = runs[variant, seed] = predictions(labels, rng.random(300) < rate)
            if variant == "film":  # concat's predictions, two errors fixed and two made: no real difference
                changed = runs["concat", seed].probabilities.copy()
                right = changed.argmax(1) == labels
                swap = [*np.nonzero(right)[0][:2], *np.nonzero(~right)[0][:2]]
                changed[swap] = changed[swap, ::-1]
                run = SamplePredictions(run.rows, labels, changed, run.label_names)
            write_predictions(tmp_path / variant / f"{seed}.npz", run)
            metrics = task_metrics("multiclass", run.labels, run.probabilities)
            records.append({**_record(variant, seed, metrics["accuracy"], inputs), "metrics": metrics,
                            "predictions": f"{seed}.npz", "run_dir": str(tmp_path / variant)})
    groups = {"half": {row: "first" if row < 150 else "second" for row in range(300)}}
    files = write_reports(tmp_path / "out", records, list(rates), ["image", "text"], ensemble_of=["image only",
                                                                                                 "text only"],
                          groups=groups, resamples=300)
    markdown = Path(files["markdown"]).read_text()
    assert "| unimodal ensemble | 2 |" in markdown and "vs the strongest cheap alternative" in markdown
    assert "Paired bootstrap over test rows: Δ +0." in markdown and "300 resamples" in markdown
    summary = {row["variant"]: row for row in csv.DictReader(Path(files["summary"]).open())}
    assert list(summary) == ["image only", "text only", "unimodal ensemble", "concat", "film"]
    concat = summary["concat"]
    assert float(concat["accuracy_ci_low"]) <= float(concat["accuracy_mean"]) <= float(concat["accuracy_ci_high"])
    assert concat["vs_single"] == "text only" and float(concat["vs_single_difference"]) > 0.2
    assert float(concat["vs_single_p"]) < 0.01 and float(concat["vs_ensemble_p"]) < 0.01
    best = summary["concat"]["vs_best"]
    loser = "film" if best == "concat" else "concat"
    assert float(summary[loser]["vs_best_difference"]) == 0 and float(summary[loser]["vs_best_p"]) > 0.5
    per_class = list(csv.DictReader(Path(files["per_class"]).open()))
    assert len(per_class) == 5 * 2 * 2 and {r["class"] for r in per_class} == {"a", "b"}
    assert "## Per class" in markdown and "| variant | a (" in markdown
    by_group = list(csv.DictReader(Path(files["groups"]).open()))
    assert {(r["value"], r["rows"]) for r in by_group} == {("first", "150"), ("second", "150")}
    assert "### half" in markdown and "first (n=150)" in markdown



def test_a_variant_that_loses_more_than_the_baseline_left_is_flagged() -> None:
    from mmfusion.sweep.report import degradation

    def fused(variant: str, without_image: float, without_text: float) -> dict:
        record = _record(variant, 0, 0.99, ["image", "text"])
        record["without_metrics"] = {"image": {"accuracy": without_image}, "text": {"accuracy": without_text}}
        return record

    records = [_record("image only", 0, 0.37, ["image"]), _record("text only", 0, 0.67, ["text"]),
               fused("concat", 0.64, 0.19), fused("graceful", 0.665, 0.368)]
    rows = aggregate(records, ["image only", "text only", "concat", "graceful"], ["image", "text"])
    found = {(d["variant"], d["removed"]): d for d in degradation(rows, ["image", "text"], "accuracy")}
    assert found[("concat", "image")]["baseline"] == "text only"  # without the image, the text is what is left
    assert found[("concat", "image")]["below"] and found[("concat", "text")]["below"]
    assert not found[("graceful", "image")]["below"] and not found[("graceful", "text")]["below"]  # within 1 point
    assert round(found[("concat", "text")]["difference"], 2) == -0.18
    markdown = results_markdown(rows, ["image", "text"], sections=[])
    assert "Losing an input" not in markdown  # the section comes with write_reports' sections
