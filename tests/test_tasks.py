"""What each task means for outputs, scores, metrics and monitors."""

from __future__ import annotations

import torch

from mmfusion.tasks.definitions import (
    DEFAULT_MONITOR,
    HEADLINE,
    METRICS,
    binary_scores,
    monitors,
    num_outputs,
    uses_thresholds,
)


def test_outputs_scores_and_metrics_per_task() -> None:
    assert [num_outputs(t, 4) for t in ("multiclass", "multilabel", "binary")] == [4, 4, 1]
    assert uses_thresholds("binary") and uses_thresholds("multilabel") and not uses_thresholds("multiclass")
    scores = binary_scores(torch.tensor([[0.0], [2.0]]))
    assert scores.shape == (2, 2) and torch.allclose(scores.sum(1), torch.ones(2))
    assert torch.allclose(scores[1, 1], torch.sigmoid(torch.tensor(2.0)))
    for task in METRICS:
        assert HEADLINE[task] in METRICS[task] and DEFAULT_MONITOR[task] in monitors(task)
        assert monitors(task)[-1] == "val_loss"
