"""Multilabel and binary runs end to end: train, thresholds, evaluate, predict, ablate, export.

The multilabel data (``make_multilabel_dataset``) has two labels only the image decides, two only the text,
and one that needs both; a fusion must beat both single-input baselines on micro-F1.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from mmfusion.api import Predictor, evaluate, fit
from mmfusion.cli import cli
from mmfusion.run.errors import RunDirError
from mmfusion.sweep.runner import run_sweep
from mmfusion.testing.data import MULTILABEL_LABELS, make_multilabel_dataset

from ..conftest import write_spec, xor_spec

pytestmark = pytest.mark.slow

MULTILABEL_SPEC = """\
model:
  encoders:
    image: {{type: timm, model_name: test_efficientnet, image_size: 32, freeze: true}}
    text: {{type: hf_text, path: {bert}, freeze: true, pooling: mean}}
  fusion: {{type: concat, projection_dim: 32}}
  head: {{type: mlp, hidden_dims: [32], dropout: 0.0}}
data:
  source: {{type: csv, train: {csv}}}
  label: labels
  label_sep: ";"
  split: {{validation: 0.2, test: 0.2}}
train:
  epochs: 12
  batch_size: 16
  lr: 0.01
  warmup: 0.0
  cache_dir: {cache}
  calibration: temperature
"""
SWEEP = """\
base: base.yaml
seeds: [0]
variants:
  - name: concat
"""
LABELS = sorted(MULTILABEL_LABELS)


@pytest.fixture(scope="module")
def multilabel_sweep(tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore
    """concat fusion and the image-only and text-only baselines, trained and evaluated by `run_sweep`.

    Its features go to a cache of its own: the session's is shared by tests that damage its shards.
    """
    folder = tmp_path_factory.mktemp("multilabel")
    data = make_multilabel_dataset(folder / "data", n=300)
    write_spec(folder, MULTILABEL_SPEC.format(bert=tiny_bert, csv=data, cache=folder / "cache"), "base.yaml")
    return run_sweep(write_spec(folder, SWEEP, "sweep.yaml"), folder / "out", progress=False), data


def test_each_label_relies_on_the_input_deciding_it_and_is_calibrated_per_label(multilabel_sweep) -> None:  # type: ignore
    result, _ = multilabel_sweep
    concat = next(r for r in result.records if r["variant"] == "concat")
    run = Path(concat["run_dir"])
    (report_path,) = run.glob("eval/*/report.json")
    report = json.loads(report_path.read_text())
    share = {c["class"]: c["share"] for c in report["reliance"]["per_class"]}
    for label, needs in MULTILABEL_LABELS.items():
        if needs == "both":
            assert min(share[label].values()) > 0.2, (label, share[label])
        else:
            assert share[label][needs] > 0.7, (label, share[label])
    calibration = json.loads((run / "calibration.json").read_text())
    assert list(calibration["temperatures"]) == LABELS  # one per label, in output order
    assert report["calibration"]["temperature"] == list(calibration["temperatures"].values())
    assert "| without text | ECE | trainable params |" in (result.out_dir / "results.md").read_text()
    assert "ece" in next(csv.DictReader((result.out_dir / "results.csv").open()))


def test_a_fusion_beats_both_single_input_baselines_on_micro_f1(multilabel_sweep) -> None:  # type: ignore
    result, _ = multilabel_sweep
    micro = {r["variant"]: r["metrics"]["micro_f1"] for r in result.records}
    assert micro["concat"] > 0.95, micro
    assert micro["concat"] > micro["image only"] + 0.1 and micro["concat"] > micro["text only"] + 0.1, micro
    rows = list(csv.DictReader((result.out_dir / "results.csv").open()))
    assert list(rows[0])[:8] == ["variant", "seed", "micro_f1", "macro_f1", "weighted_f1", "samples_f1", "map",
                                 "subset_accuracy"]
    concat = next(r for r in rows if r["variant"] == "concat")
    assert float(concat["micro_f1_without_image"]) < float(concat["micro_f1"]) - 0.1
    markdown = (result.out_dir / "results.md").read_text()
    assert "| variant | seeds | micro-F1 | macro-F1 | weighted-F1 | samples-F1 | mAP | subset accuracy |" in markdown
    assert "Best fused variant *concat*" in markdown and "micro-F1 — fusion pays" in markdown


def test_a_multilabel_run_keeps_its_task_thresholds_and_metrics(multilabel_sweep) -> None:  # type: ignore
    result, _ = multilabel_sweep
    run = result.out_dir / "runs" / "concat" / "seed-0"
    assert json.loads((run / "labels.json").read_text()) == LABELS
    thresholds = json.loads((run / "thresholds.json").read_text())
    assert thresholds["tuned_on"] == "validation" and thresholds["objective"] == "f1"
    assert list(thresholds["thresholds"]) == LABELS and all(0 <= v <= 1 for v in thresholds["thresholds"].values())
    header = (run / "metrics.csv").read_text().splitlines()[0]
    assert header == ("epoch,train_loss,val_loss,val_micro_f1,val_macro_f1,val_weighted_f1,val_samples_f1,val_map,"
                      "val_subset_accuracy,lr,seconds,train_samples_per_s")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["task"] == "multilabel" and summary["monitor"] == "val_micro_f1"
    assert summary["test"]["thresholds"] == thresholds["thresholds"]
    assert "task: multilabel" in (run / "spec.yaml").read_text() and (run / "plots" / "per_label_f1.png").exists()

    report = evaluate(run, out=run / "eval" / "again", corruptions=["image:gaussian_noise=0,0.5"])
    assert report.task == "multilabel" and report.headline == "micro_f1" and report.confusion == []
    assert set(report.metrics) == {"micro_f1", "macro_f1", "weighted_f1", "samples_f1", "map", "subset_accuracy"}
    assert report.metrics["micro_f1"] > 0.95 and report.thresholds == thresholds["thresholds"]
    conditions = {row["condition"]: row for row in report.robustness}
    assert set(conditions) == {"all modalities", "without image", "without text"}
    for removed in ("without image", "without text"):  # each input decides labels the other cannot
        assert conditions[removed]["micro_f1"] < conditions["all modalities"]["micro_f1"] - 0.1
    assert report.corruption_summary[0]["metric"] == "micro_f1" and "clean_micro_f1" in report.corruption_summary[0]
    assert set(report.per_class) >= set(LABELS) and "samples avg" in report.per_class
    markdown = (run / "eval" / "again" / "report.md").read_text()
    assert "| condition | micro-F1 | macro-F1 | weighted-F1 | samples-F1 | mAP | subset accuracy |" in markdown
    assert "## Per label" in markdown and "relative robustness = mean micro-F1" in markdown
    assert (run / "eval" / "again" / "per_label_f1.png").exists()
    assert not (run / "eval" / "again" / "confusion_matrix.png").exists()


def test_predict_returns_every_label_at_or_above_its_threshold(multilabel_sweep, tmp_path: Path) -> None:  # type: ignore
    result, data = multilabel_sweep
    run = result.out_dir / "runs" / "concat" / "seed-0"
    table = list(csv.DictReader(data.open()))
    truth = [set(filter(None, row["labels"].split(";"))) for row in table]
    predictor = Predictor(run, device="cpu")
    predictions = predictor.predict([{"image": data.parent / r["image"], "text": r["text"]} for r in table[:60]])
    assert sum(set(p.labels) == t for p, t in zip(predictions, truth)) >= 55
    first = predictions[0].as_dict()
    assert set(first) == {"labels", "probabilities", "thresholds", "top"} and list(first["thresholds"]) == LABELS
    assert all(first["probabilities"][label] >= first["thresholds"][label] for label in first["labels"])

    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    saved = json.loads((copy / "thresholds.json").read_text())
    saved["thresholds"] = dict.fromkeys(LABELS, 0.0)
    (copy / "thresholds.json").write_text(json.dumps(saved))
    assert set(Predictor(copy, device="cpu").predict_one(text="alpha").labels) == set(LABELS)  # the file is used

    out = CliRunner().invoke(cli, ["predict", str(run), "--csv", str(data)])
    assert out.exit_code == 0, out.output
    rows = list(csv.DictReader(out.output.splitlines()))
    assert list(rows[0])[3:] == ["predicted", *(f"p_{label}" for label in LABELS), "drift_image", "drift_text"]
    assert sum(set(filter(None, r["predicted"].split(";"))) == t for r, t in zip(rows, truth)) >= 270
    one = CliRunner().invoke(cli, ["predict", str(run), "--image", str(data.parent / table[5]["image"]), "--text",
                                   table[5]["text"], "--format", "csv"])
    assert one.exit_code == 0 and one.output.splitlines()[0] == "label,probability,threshold", one.output
    assert {line.split(",")[0] for line in one.output.splitlines()[1:]} == truth[5]


def test_a_damaged_thresholds_file_is_a_clear_error(multilabel_sweep, tmp_path: Path) -> None:  # type: ignore
    result, _ = multilabel_sweep
    run = tmp_path / "run"
    shutil.copytree(result.out_dir / "runs" / "concat" / "seed-0", run, ignore=shutil.ignore_patterns("eval"))
    path = run / "thresholds.json"
    for content, problem in (
            ('{"thresholds": {"alpha": 0.5}}', "lists thresholds for alpha, but this multilabel run needs one for "
                                               "every label of labels.json, in order"),
            (json.dumps({"thresholds": {**dict.fromkeys(LABELS, 0.5), "warm": "high"}}),
             "the threshold of 'warm' is \"high\", not a number between 0 and 1"),
            ('{"thresholds": ', "is not valid JSON"),
            ("[0.5]", "does not hold the decision thresholds by label")):
        path.write_text(content)
        with pytest.raises(RunDirError, match=problem):
            Predictor(run, device="cpu")
    cli_result = CliRunner().invoke(cli, ["evaluate", str(run)])
    assert cli_result.exit_code == 2 and "thresholds.json" in cli_result.output and "Traceback" not in \
        cli_result.output
    path.unlink()
    with pytest.warns(UserWarning, match="thresholds.json is missing .* using 0.5"):
        assert Predictor(run, device="cpu").thresholds == [0.5] * 5


@pytest.fixture(scope="module")
def binary_run(xor_data: Path, tiny_bert: Path, feature_cache: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore
    folder = tmp_path_factory.mktemp("binary")
    spec = xor_spec(folder, xor_data, tiny_bert, feature_cache)
    spec.write_text(spec.read_text().replace("data:\n", "data:\n  task: binary\n"), encoding="utf-8")
    return fit(spec, out=folder / "run")


def test_a_binary_run_has_one_logit_auroc_and_a_tuned_threshold(binary_run, xor_data: Path) -> None:  # type: ignore
    run = binary_run.run_dir
    assert json.loads((run / "labels.json").read_text()) == ["different", "same"]  # the positive label second
    assert binary_run.summary["task"] == "binary" and binary_run.summary["monitor"] == "val_auroc"
    assert binary_run.test_metrics["auroc"] > 0.9 and binary_run.test_metrics["accuracy"] > 0.85
    assert list(json.loads((run / "thresholds.json").read_text())["thresholds"]) == ["same"]
    assert "val_auroc" in (run / "metrics.csv").read_text().splitlines()[0]

    predictor = Predictor(run, device="cpu")
    assert predictor.model.num_classes == 1 and predictor.task == "binary"
    row = next(csv.DictReader(xor_data.open()))
    prediction = predictor.predict_one(image=xor_data.parent / row["image"], text=row["text"]).as_dict()
    assert prediction["positive_label"] == "same" and prediction["label"] in ("same", "different")
    p = prediction["positive_probability"]
    assert prediction["label"] == ("same" if p >= prediction["threshold"] else "different")
    assert prediction["probabilities"]["different"] == pytest.approx(1 - p)
    table = predictor.predict_table(xor_data)
    assert list(table.columns)[-5:] == ["predicted", "p_different", "p_same", "drift_image", "drift_text"]
    assert (table["predicted"] == table["label"]).mean() > 0.85

    report = evaluate(run)
    assert set(report.metrics) == {"auroc", "accuracy", "f1"} and report.headline == "auroc"
    assert len(report.confusion) == 2 and {r["condition"] for r in report.robustness} >= {"without image"}

    from mmfusion.export.exporters import export_run

    exported = export_run(run, "torchscript")
    metadata = json.loads(exported.metadata_path.read_text())
    assert metadata["task"] == "binary" and metadata["positive_label"] == "same" and metadata["scores"] == "sigmoid"
    assert metadata["output"]["shape"] == ["batch", 1] and list(metadata["thresholds"]) == ["same"]


def test_two_labels_stay_multiclass_unless_the_spec_says_binary(xor_run) -> None:  # type: ignore
    assert xor_run.summary["task"] == "multiclass" and xor_run.summary["monitor"] == "val_macro_f1"
    assert Predictor(xor_run.run_dir, device="cpu").model.num_classes == 2
    assert not (xor_run.run_dir / "thresholds.json").exists()
