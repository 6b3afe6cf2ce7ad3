"""A task the spec names is checked against train: when the spec loads; the defaults it implies are filled in."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmfusion.errors import SpecError
from mmfusion.registry import get_registry
from mmfusion.spec import load_spec

from ..conftest import write_spec

BASE = """\
model:
  encoders:
    text: {type: hf_text, path: bert}
  fusion: concat
data:
  task: multilabel
train:
  monitor: val_accuracy
  loss: focal
  imbalance: class_weights
"""


def test_a_named_task_checks_train_settings_with_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as caught:
        load_spec(write_spec(tmp_path, BASE))
    message = str(caught.value)
    assert "spec.yaml:8: train.monitor: val_accuracy is not a metric of multilabel data; choose one of " \
           "val_micro_f1, val_macro_f1" in message
    assert "spec.yaml:9: train.loss: loss 'focal' handles multiclass data, not multilabel: use bce" in message
    assert "spec.yaml:10: train.imbalance: class_weights weights the classes of single-label data" in message
    assert "pos_weight: auto" in message


def test_task_options_need_their_task() -> None:
    model = {"encoders": {"text": {"type": "hf_text", "path": "bert"}}, "fusion": "concat"}
    for data, problem in (({"task": "multiclass", "label_sep": ";"}, "label_sep splits cells"),
                          ({"positive_label": "yes"}, "positive_label is for task: binary"),
                          ({"task": "binary", "labels": ["a", "b", "c"]}, "task: binary needs exactly two labels"),
                          ({"task": "binary", "labels": ["a", "b"], "positive_label": "c"},
                           "positive_label 'c' is not one of labels")):
        with pytest.raises(SpecError, match=problem):
            load_spec({"model": model, "data": data})


def test_for_task_fills_in_what_the_spec_left_to_the_task() -> None:
    spec = load_spec({"model": {"encoders": {"text": {"type": "hf_text", "path": "bert"}}, "fusion": "concat"},
                      "data": {}})
    assert spec.train.loss is None and spec.train.monitor is None and spec.data.task is None
    multilabel = spec.for_task("multilabel", get_registry())
    assert (multilabel.data.task, multilabel.train.loss.type, multilabel.train.monitor) == \
        ("multilabel", "bce", "val_micro_f1")
    binary = spec.for_task("binary", get_registry())
    assert (binary.train.loss.type, binary.train.monitor) == ("bce", "val_auroc")
    multiclass = spec.for_task("multiclass", get_registry())
    assert (multiclass.train.loss.type, multiclass.train.monitor) == ("cross_entropy", "val_macro_f1")
    focal = load_spec({**spec.model_dump(mode="json"), "train": {"loss": "focal"}})
    with pytest.raises(SpecError, match=r"train\.loss: loss 'focal' handles multiclass data, not binary: .* the "
                                        r"task is binary \(two labels\)"):
        focal.for_task("binary", get_registry(), why="two labels")
