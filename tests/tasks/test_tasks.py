"""What each task means for outputs, scores, decisions, metrics and monitors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mmfusion.default_plugins.losses import BCEConfig, FocalConfig
from mmfusion.errors import PluginError
from mmfusion.interfaces.config import LossConfig
from mmfusion.tasks.decisions import decide
from mmfusion.tasks.definitions import (
    ALL_MONITORS,
    DEFAULT_MONITOR,
    HEADLINE,
    METRICS,
    monitors,
    num_outputs,
    uses_thresholds,
)
from mmfusion.tasks.scores import score_name, scores_for

LOGITS = torch.tensor([[2.0, -1.0, 0.5], [0.1, 0.2, 0.3]])


def test_outputs_metrics_and_monitors_per_task() -> None:
    assert [num_outputs(t, 4) for t in ("multiclass", "multilabel", "binary")] == [4, 4, 1]
    assert uses_thresholds("binary") and uses_thresholds("multilabel") and not uses_thresholds("multiclass")
    for task in METRICS:
        assert HEADLINE[task] in METRICS[task] and DEFAULT_MONITOR[task] in monitors(task)
        assert monitors(task)[-1] == "val_loss" and set(monitors(task)) <= set(ALL_MONITORS)


def test_scores_follow_the_task_and_for_multiclass_the_losss_class() -> None:
    binary = scores_for("binary")(torch.tensor([[0.0], [2.0]]))
    assert binary.shape == (2, 2) and torch.allclose(binary.sum(1), torch.ones(2))
    assert torch.allclose(binary[1, 1], torch.sigmoid(torch.tensor(2.0)))
    assert torch.allclose(scores_for("multilabel")(LOGITS), torch.sigmoid(LOGITS))
    assert torch.allclose(scores_for("multiclass")(LOGITS), torch.softmax(LOGITS, dim=1))  # cross_entropy
    assert torch.allclose(scores_for("multiclass", FocalConfig())(LOGITS), torch.softmax(LOGITS, dim=1))
    # pos_weight: auto cannot be built without the training labels; the class alone says "sigmoid"
    assert torch.allclose(scores_for("multiclass", BCEConfig(pos_weight="auto"))(LOGITS), torch.sigmoid(LOGITS))
    assert [score_name(t) for t in ("multiclass", "multilabel", "binary")] == ["softmax", "sigmoid", "sigmoid"]
    with pytest.raises(PluginError, match="unknown loss 'nope'"):
        score_name("multiclass", LossConfig(type="nope"))


def test_decisions_take_the_argmax_or_compare_with_thresholds() -> None:
    scores = np.array([[0.2, 0.8], [0.6, 0.4], [0.7, 0.3]])
    assert decide("multiclass", scores).tolist() == [1, 0, 0]
    assert decide("binary", scores).tolist() == [1, 0, 0]  # 0.5 on the positive label's score by default
    assert decide("binary", scores, [0.35]).tolist() == [1, 1, 0]
    assert decide("multilabel", scores, [0.6, 0.4]).tolist() == [[0, 1], [1, 1], [1, 0]]  # at or above
    assert decide("multilabel", scores).tolist() == [[0, 1], [1, 0], [1, 0]]
    assert decide("multiclass", np.zeros((0, 3))).shape == (0,)
