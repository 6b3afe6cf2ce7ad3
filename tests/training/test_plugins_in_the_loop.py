"""A plugin's loss, logger and callback, selected in the spec, are each used by the training loop."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from mmfusion import Callback, PluginError, SpecError
from mmfusion.api import fit
from mmfusion.registry import Registry, load_registry
from mmfusion.spec import load_spec
from mmfusion.training.trainer import Trainer, TrainingInterrupted

from ..conftest import xor_spec
from . import loop_plugins
from .interrupt import StopAfterEpochs
from .loop_plugins import MemoryLogger, Recorder

PLUGIN_TRAIN = "  loss: double_ce\n  loggers: [memory]\n  callbacks: [{type: recorder, stop_after: 2}]\n"


@pytest.fixture(scope="module")
def plugin_registry() -> Registry:
    return load_registry(autoload=False, extra=[loop_plugins])


class Late(Callback):
    """A callback passed from Python: it runs after the spec's."""

    def __init__(self, order: list[str]) -> None:
        super().__init__()
        self.order = order

    def on_epoch_end(self, ctx, row) -> None:  # type: ignore[no-untyped-def]
        self.order.append(f"python {row['epoch']} after recorder: {Recorder.instances[-1].seen[-1]}")


@pytest.mark.slow
def test_a_plugin_loss_logger_and_callback_are_each_used(plugin_registry: Registry, xor_data: Path, tiny_bert: Path,
                                                         feature_cache: Path, tmp_path: Path) -> None:
    spec = load_spec(xor_spec(tmp_path, xor_data, tiny_bert, feature_cache, epochs=4, extra=PLUGIN_TRAIN),
                     registry=plugin_registry)
    assert [logger.type for logger in spec.train.loggers] == ["csv", "memory"]  # metrics.csv stays on
    order: list[str] = []
    result = fit(spec, out=tmp_path / "run", registry=plugin_registry, callbacks=[Late(order)])

    # the callback: every hook in order, and its stop request honoured after epoch 2 of 4
    assert [row["epoch"] for row in result.history] == [1, 2]
    recorder = Recorder.instances[-1]
    assert recorder.seen == ["fit_start", "epoch_start 1", "validation_end 1", "epoch_end 1",
                             "epoch_start 2", "validation_end 2", "epoch_end 2", "fit_end"]
    batches = math.ceil(result.summary["data"]["train"]["rows"] / 16)
    assert recorder.batches == {1: batches, 2: batches}
    # on_fit_end comes after the test report and the summary
    assert recorder.result.test_metrics == result.test_metrics is not None
    assert recorder.result.summary["epochs_run"] == 2
    assert order == ["python 1 after recorder: epoch_end 1", "python 2 after recorder: epoch_end 2"]

    # the loss: called for training and validation batches; train_loss and val_loss are its means, = 2 × CE
    assert len(recorder.loss_checks) == 2
    for check in recorder.loss_checks:
        assert check["worst_ratio_error"] < 1e-5
        assert check["train_loss"] == pytest.approx(check["train_mean"], rel=1e-6)
        assert check["val_loss"] == pytest.approx(check["val_mean"], rel=1e-6)

    # the logger: the spec at the start, every epoch's row, the final report, then closed without failure
    logger = MemoryLogger.instances[-1]
    assert logger.config_logged["train"]["loss"]["type"] == "double_ce"
    assert sorted(logger.metrics) == [1, 2]
    assert logger.metrics[2]["val_accuracy"] == result.history[-1]["val_accuracy"]
    assert logger.report["test"]["accuracy"] == result.test_metrics["accuracy"]
    assert logger.closed is False
    rows = list(csv.DictReader((result.run_dir / "metrics.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2]


@pytest.mark.slow
def test_callback_state_and_loggers_continue_on_resume(plugin_registry: Registry, xor_data: Path, tiny_bert: Path,
                                                       feature_cache: Path, tmp_path: Path) -> None:
    spec = load_spec(xor_spec(tmp_path, xor_data, tiny_bert, feature_cache, epochs=3,
                              extra="  loggers: [memory]\n  callbacks: [recorder]\n"), registry=plugin_registry)
    with pytest.raises(TrainingInterrupted):
        Trainer(spec, tmp_path / "run", progress=False, registry=plugin_registry,
                callbacks=[StopAfterEpochs(1)]).fit()
    first = Recorder.instances[-1]
    assert first.seen[-1] == "exception TrainingInterrupted" and first.epochs_seen == 1
    assert MemoryLogger.instances[-1].closed is False  # an interruption on request is not a failure

    Trainer(spec, tmp_path / "run", progress=False, registry=plugin_registry, resume=True).fit()
    second, logger = Recorder.instances[-1], MemoryLogger.instances[-1]
    assert second is not first and second.restored == {"epochs_seen": 1}  # loaded before on_fit_start
    assert second.epochs_seen == 3 and second.seen[:2] == ["fit_start", "epoch_start 2"]
    assert logger.config_logged is None and logger.resumed_after == [1] and sorted(logger.metrics) == [2, 3]


@pytest.mark.slow
def test_plugin_callback_errors_name_it_and_stop_at_stops(plugin_registry: Registry, xor_data: Path, tiny_bert: Path,
                                                          feature_cache: Path, tmp_path: Path) -> None:
    spec = load_spec(xor_spec(tmp_path, xor_data, tiny_bert, feature_cache, epochs=3,
                              extra="  loggers: [memory]\n  callbacks: [explodes]\n"), registry=plugin_registry)
    with pytest.raises(PluginError, match=r"callback 'explodes' \(.*Explodes\) failed in on_epoch_end: "
                                          "ZeroDivisionError"):
        fit(spec, out=tmp_path / "broken", registry=plugin_registry)
    assert MemoryLogger.instances[-1].closed is True  # closed as failed

    # the built-in stop_at: a train loss below 100 is reached at once
    spec = load_spec(xor_spec(tmp_path, xor_data, tiny_bert, feature_cache, epochs=3,
                              extra="  callbacks: [{type: stop_at, metric: train_loss, value: 100}]\n"))
    assert len(fit(spec, out=tmp_path / "stopped").history) == 1


@pytest.mark.parametrize(("train", "message"), [
    ("{loss: focl}", "train.loss.type: unknown loss 'focl' — did you mean 'focal'"),
    ("{loss: {type: focal, gama: 2}}", "unknown parameter 'gama' for loss 'focal'"),
    ("{loggers: [tensorbord]}", "unknown logger 'tensorbord' — did you mean 'tensorboard'"),
    ("{callbacks: [{type: stop_att, value: 1}]}", "unknown callback 'stop_att' — did you mean 'stop_at'"),
])
def test_training_components_in_the_spec_are_checked(train: str, message: str, tiny_bert: Path) -> None:
    import yaml

    spec = {"model": {"encoders": {"text": {"type": "hf_text", "path": str(tiny_bert)}}, "fusion": "concat"},
            "train": yaml.safe_load(train)}
    with pytest.raises(SpecError, match=message):
        load_spec(spec)


@pytest.mark.slow
def test_default_training_components(tiny_bert: Path) -> None:
    spec = load_spec({"model": {"encoders": {"text": {"type": "hf_text", "path": str(tiny_bert)}}, "fusion": "concat"},
                      "train": {"loggers": ["tensorboard"]}})
    assert spec.train.loss is None and spec.train.callbacks == []  # the task's default: cross_entropy here
    assert [logger.type for logger in spec.train.loggers] == ["csv", "tensorboard"]
    from mmfusion.training.losses import build_loss

    assert build_loss(spec.train, 3).name == "cross_entropy"
