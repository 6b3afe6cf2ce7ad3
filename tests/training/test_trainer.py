"""Training on data with a known answer; the run directory; resume; errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from mmfusion.api import fit
from mmfusion.errors import MMFusionError
from mmfusion.spec import load_spec
from mmfusion.training.trainer import Trainer, TrainingInterrupted

from ..conftest import xor_spec
from .interrupt import StopAfterEpochs


@pytest.fixture
def fused_run(xor_run):  # type: ignore[no-untyped-def]
    return xor_run


def test_fusion_learns_what_no_single_modality_can(fused_run, xor_data: Path, tiny_bert: Path,  # type: ignore
                                                  feature_cache: Path, tmp_path: Path) -> None:
    assert fused_run.test_metrics["accuracy"] >= 0.9
    for only in ("image", "text"):
        spec = load_spec(xor_spec(tmp_path, xor_data, tiny_bert, feature_cache, name=f"{only}.yaml"))
        data = spec.data.model_copy(update={"columns": {only: only}})
        model = spec.model.model_copy(update={"encoders": {only: spec.model.encoders[only]}})
        single = spec.model_copy(update={"model": model, "data": data})
        result = fit(single, out=tmp_path / only)
        assert result.test_metrics["accuracy"] <= 0.7, only  # XOR: one modality alone is at chance


def test_run_directory_is_complete_and_well_formed(fused_run) -> None:  # type: ignore[no-untyped-def]
    run = fused_run.run_dir
    for name in ("spec.yaml", "labels.json", "inputs.json", "weights.safetensors", "metrics.csv", "summary.json",
                 "plots/training_curves.png", "plots/confusion_matrix.png"):
        assert (run / name).is_file(), name
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert [int(r["epoch"]) for r in rows] == list(range(1, 13))
    assert float(rows[-1]["train_loss"]) < float(rows[0]["train_loss"])
    assert all(0 <= float(r["val_accuracy"]) <= 1 for r in rows)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["cached_modalities"] == ["image", "text"]
    assert summary["data"]["train"]["rows"] == 180 and summary["test"]["rows"] == 60
    assert summary["precision"] in {"fp32", "bf16"} and summary["best_epoch"] >= 1
    assert json.loads((run / "labels.json").read_text()) == ["different", "same"]
    assert json.loads((run / "inputs.json").read_text())["columns"] == {"image": ["image"], "text": ["text"]}
    for png in (run / "plots").glob("*.png"):
        with Image.open(png) as image:
            assert image.format == "PNG" and image.size[0] > 200
    assert load_spec(run / "spec.yaml").train.epochs == 12  # the saved spec loads again


@pytest.mark.slow
def test_resume_after_an_interruption_ends_with_identical_weights(xor_data: Path, tiny_bert: Path,
                                                                  feature_cache: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    spec = load_spec(xor_spec(tmp_path, xor_data, tiny_bert, feature_cache, epochs=4))
    Trainer(spec, tmp_path / "straight", progress=False).fit()
    with pytest.raises(TrainingInterrupted):
        Trainer(spec, tmp_path / "resumed", progress=False, callbacks=[StopAfterEpochs(2)]).fit()
    assert not (tmp_path / "resumed" / "summary.json").exists()
    result = Trainer(spec, tmp_path / "resumed", progress=False, resume=True).fit()
    assert [row["epoch"] for row in result.history] == [1, 2, 3, 4]
    straight = load_file(str(tmp_path / "straight" / "checkpoints" / "epoch-0004" / "model.safetensors"))
    resumed = load_file(str(tmp_path / "resumed" / "checkpoints" / "epoch-0004" / "model.safetensors"))
    assert straight.keys() == resumed.keys()
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)
    best = load_file(str(tmp_path / "straight" / "weights.safetensors"))
    assert all(torch.equal(best[k], load_file(str(tmp_path / "resumed" / "weights.safetensors"))[k]) for k in best)


@pytest.mark.slow
def test_a_crash_between_checkpoint_and_best_weights_is_repaired_on_resume(xor_data: Path, tiny_bert: Path,
                                                                           feature_cache: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    spec = load_spec(xor_spec(tmp_path, xor_data, tiny_bert, feature_cache, epochs=2))
    with pytest.raises(TrainingInterrupted):
        Trainer(spec, tmp_path / "run", progress=False, callbacks=[StopAfterEpochs(1)]).fit()
    (tmp_path / "run" / "weights.safetensors").unlink()  # as if the process died right after the checkpoint
    one_epoch = spec.model_copy(update={"train": spec.train.model_copy(update={"epochs": 1})})
    Trainer(one_epoch, tmp_path / "run", progress=False, resume=True).fit()  # nothing left to train
    assert (tmp_path / "run" / "weights.safetensors").exists()
    checkpoint = load_file(str(tmp_path / "run" / "checkpoints" / "epoch-0001" / "model.safetensors"))
    weights = load_file(str(tmp_path / "run" / "weights.safetensors"))
    assert all(torch.equal(checkpoint[k], weights[k]) for k in checkpoint)


def test_existing_run_and_missing_checkpoint_are_clear_errors(fused_run, xor_data: Path, tiny_bert: Path,  # type: ignore
                                                             feature_cache: Path, tmp_path: Path) -> None:
    spec = load_spec(xor_spec(tmp_path, xor_data, tiny_bert, feature_cache, epochs=1))
    with pytest.raises(MMFusionError, match="already holds a run; continue it with --resume"):
        Trainer(spec, fused_run.run_dir, progress=False).fit()
    with pytest.raises(MMFusionError, match="nothing to resume"):
        Trainer(spec, tmp_path / "fresh", progress=False, resume=True).fit()
    with pytest.raises(MMFusionError, match="fp16 needs a CUDA device"):
        Trainer(spec.model_copy(update={"train": spec.train.model_copy(update={"precision": "fp16"})}),
                tmp_path / "x", progress=False)


@pytest.mark.slow
def test_fine_tuning_live_encoders_with_options(xor_data: Path, tiny_bert: Path, feature_cache: Path,
                                                tmp_path: Path) -> None:
    extra = ("  grad_accum_steps: 2\n  imbalance: class_weights\n  scheduler: linear\n"
             "  early_stopping: {patience: 1, min_delta: 0.5}\n")
    spec = xor_spec(tmp_path, xor_data, tiny_bert, feature_cache, epochs=4, freeze=False,
                    fusion="{type: attention, dim: 32, num_heads: 2}", extra=extra)
    result = fit(spec, out=tmp_path / "run")
    assert result.summary["cached_modalities"] == []
    assert result.summary["trainable_parameters"] == result.summary["parameters"]
    assert len(result.history) == 2  # early stopping: no epoch improves by 0.5 after the first
    # metrics.csv reports the new layers' learning rate (train.lr = 0.01 with a schedule), not the encoders' 2e-5
    assert all(2e-4 < row["lr"] <= 0.01 for row in result.history)


def test_training_needs_a_data_section(tmp_path: Path, tiny_bert: Path) -> None:
    spec = load_spec({"model": {"encoders": {"text": {"type": "hf_text", "path": str(tiny_bert)}},
                                "fusion": "concat"}})
    with pytest.raises(MMFusionError, match="no `data:` section"):
        Trainer(spec, tmp_path / "run", progress=False)


@pytest.mark.slow
def test_fit_on_dataframes_without_a_data_source(xor_data: Path, tiny_bert: Path, feature_cache: Path,
                                                 tmp_path: Path) -> None:
    import pandas as pd

    table = pd.read_csv(xor_data)
    spec = {"model": {"encoders": {"text": {"type": "hf_text", "path": str(tiny_bert), "freeze": True}},
                      "fusion": "concat"},
            "data": {"split": {"validation": 0.2}},
            "train": {"epochs": 1, "cache_dir": str(feature_cache)}}
    result = fit(spec, out=tmp_path / "run", train=table.head(200), test=table.tail(50), image_root=xor_data.parent)
    assert result.summary["data"]["test"]["rows"] == 50
    with pytest.raises(MMFusionError, match="data.source is missing"):
        fit(spec, out=tmp_path / "run2")
