"""Loggers write what they are sent where their tools read it: TensorBoard event files and an MLflow store."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from mmfusion import MMFusionError
from mmfusion.default_plugins.mlflow_logger import MlflowLogger, flatten
from mmfusion.default_plugins.tensorboard_logger import TensorBoardLogger
from mmfusion.spec import load_spec
from mmfusion.training.trainer import Trainer, TrainingInterrupted

from ..conftest import xor_spec
from .interrupt import StopAfterEpochs


@pytest.mark.slow
def test_tensorboard_and_mlflow_record_a_resumed_run(xor_data: Path, tiny_bert: Path, feature_cache: Path,
                                                     tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("tensorboard")
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    extra = "  loggers: [tensorboard, {type: mlflow, experiment: xor, run_name: first}]\n"
    spec = load_spec(xor_spec(tmp_path, xor_data, tiny_bert, feature_cache, epochs=3, extra=extra))
    run = tmp_path / "run"
    with pytest.raises(TrainingInterrupted):
        Trainer(spec, run, progress=False, callbacks=[StopAfterEpochs(2)]).fit()
    result = Trainer(spec, run, progress=False, resume=True).fit()
    history = {row["epoch"]: row for row in result.history}

    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"scalars": 0, "tensors": 0})
    events.Reload()
    assert {"train_loss", "val_loss", "val_accuracy", "val_macro_f1", "lr", "test/accuracy"} \
        <= set(events.Tags()["scalars"])
    losses = events.Scalars("train_loss")
    assert [e.step for e in losses] == [1, 2, 3]  # epochs 1-2 before the interruption, 3 after --resume
    assert [e.value for e in losses] == pytest.approx([history[e]["train_loss"] for e in (1, 2, 3)], rel=1e-6)
    assert events.Scalars("test/accuracy")[0].value == pytest.approx(result.test_metrics["accuracy"])
    spec_text = events.Tensors("spec/text_summary")[0].tensor_proto.string_val[0].decode()
    assert '"fusion"' in spec_text and '"concat"' in spec_text

    saved = json.loads((run / "mlflow" / "run.json").read_text())
    client = MlflowClient(tracking_uri=saved["tracking_uri"])
    assert saved["tracking_uri"].startswith("sqlite:///") and str(run / "mlflow") in saved["tracking_uri"]
    runs = client.search_runs([client.get_experiment_by_name("xor").experiment_id])
    assert len(runs) == 1  # --resume continued the same MLflow run
    record = runs[0]
    assert record.info.status == "FINISHED" and record.info.run_name == "first"
    assert record.data.params["model.fusion.type"] == "concat" and record.data.params["train.epochs"] == "3"
    metric = client.get_metric_history(record.info.run_id, "val_accuracy")
    assert sorted((m.step, m.value) for m in metric) == [(e, pytest.approx(history[e]["val_accuracy"]))
                                                         for e in (1, 2, 3)]
    assert record.data.metrics["test_accuracy"] == pytest.approx(result.test_metrics["accuracy"])
    report = client.download_artifacts(record.info.run_id, "report.json", str(tmp_path))
    assert json.loads(Path(report).read_text())["best_epoch"] == result.best_epoch


def test_missing_logger_packages_name_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    with pytest.raises(MMFusionError, match="pip install tensorboard"):
        TensorBoardLogger(TensorBoardLogger.Config(), tmp_path)
    monkeypatch.setitem(sys.modules, "mlflow", None)
    monkeypatch.setitem(sys.modules, "mlflow.tracking", None)
    with pytest.raises(MMFusionError, match="pip install mlflow"):
        MlflowLogger(MlflowLogger.Config(), tmp_path)


def test_spec_parameters_are_flattened_for_mlflow() -> None:
    assert flatten({"model": {"fusion": {"type": "concat", "dims": [1, 2]}}, "x": None}) == {
        "model.fusion.type": "concat", "model.fusion.dims": "[1, 2]", "x": "None"}
