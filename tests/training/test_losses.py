"""Built-in losses: what each computes, how the older train options map onto them, and that each learns XOR."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.nn import functional

from mmfusion import MMFusionError
from mmfusion.api import Predictor, evaluate, fit
from mmfusion.default_plugins.losses import BinaryCrossEntropy, CrossEntropy, FocalLoss
from mmfusion.errors import SpecError
from mmfusion.spec import load_spec
from mmfusion.tasks.scores import scores_for
from mmfusion.training.losses import build_loss, class_weights, positive_weights

from ..conftest import xor_spec

LOGITS = torch.tensor([[2.0, -1.0, 0.5], [0.1, 0.2, 0.3], [-1.0, 3.0, 0.0], [0.0, 0.0, 4.0]])
TARGETS = torch.tensor([0, 2, 1, 0])


def test_cross_entropy_with_label_smoothing_and_class_weights() -> None:
    weights = torch.tensor([1.0, 2.0, 0.5])
    loss = CrossEntropy(CrossEntropy.Config(label_smoothing=0.1), 3, weights)
    expected = functional.cross_entropy(LOGITS, TARGETS, weight=weights, label_smoothing=0.1)
    assert torch.allclose(loss(LOGITS, TARGETS), expected)
    assert torch.allclose(scores_for("multiclass", loss.config)(LOGITS), torch.softmax(LOGITS, dim=1))


@pytest.mark.slow
def test_focal_loss_is_cross_entropy_at_gamma_zero_and_down_weights_easy_rows() -> None:
    ce = functional.cross_entropy(LOGITS, TARGETS)
    assert torch.allclose(FocalLoss(FocalLoss.Config(gamma=0), 3)(LOGITS, TARGETS), ce)
    focal = FocalLoss(FocalLoss.Config(gamma=2), 3)(LOGITS, TARGETS)
    p = torch.softmax(LOGITS, 1)[torch.arange(4), TARGETS]
    assert torch.allclose(focal, (-(1 - p) ** 2 * p.log()).mean())
    alpha = FocalLoss(FocalLoss.Config(gamma=0, alpha=[1.0, 0.0, 0.0]), 3)(LOGITS, TARGETS)
    assert torch.allclose(alpha, -torch.log_softmax(LOGITS, 1)[[0, 3], [0, 0]].sum() / 4)
    with pytest.raises(MMFusionError, match="lists 2 values, but the model has 3 outputs"):
        FocalLoss(FocalLoss.Config(alpha=[1.0, 2.0]), 3)
    with pytest.raises(MMFusionError, match="use one of them"):
        FocalLoss(FocalLoss.Config(alpha=0.5), 3, torch.ones(3))


def test_bce_uses_one_hot_targets_and_sigmoid_scores() -> None:
    loss = BinaryCrossEntropy(BinaryCrossEntropy.Config(pos_weight=2.0), 3)
    one_hot = functional.one_hot(TARGETS, 3).float()
    expected = functional.binary_cross_entropy_with_logits(LOGITS, one_hot, pos_weight=torch.full((3,), 2.0))
    assert torch.allclose(loss(LOGITS, TARGETS), expected)
    scores = scores_for("multiclass", loss.config)(LOGITS)  # read from the class: no loss built for it
    assert torch.allclose(scores, torch.sigmoid(LOGITS))
    assert torch.equal(scores.argmax(1), LOGITS.argmax(1))  # the same predicted class as softmax


def test_bce_takes_multi_hot_targets_and_one_logit_binary_targets() -> None:
    multi_hot = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
    loss = BinaryCrossEntropy(BinaryCrossEntropy.Config(), 3)
    assert torch.allclose(loss(LOGITS, multi_hot), functional.binary_cross_entropy_with_logits(LOGITS, multi_hot))
    one_logit = LOGITS[:, :1]
    binary = BinaryCrossEntropy(BinaryCrossEntropy.Config(pos_weight=[3.0]), 1)
    expected = functional.binary_cross_entropy_with_logits(one_logit, torch.tensor([[1.0], [0.0], [1.0], [0.0]]),
                                                           pos_weight=torch.tensor([3.0]))
    assert torch.allclose(binary(one_logit, torch.tensor([1, 0, 1, 0])), expected)
    with pytest.raises(MMFusionError, match=r"lists 2 values, but the model has 1 output \(binary"):
        BinaryCrossEntropy(BinaryCrossEntropy.Config(pos_weight=[1.0, 2.0]), 1)


def test_pos_weight_auto_is_negatives_over_positives_per_output() -> None:
    targets = np.array([[1, 0, 0], [1, 0, 0], [1, 1, 0], [0, 0, 0]], dtype=np.float32)
    assert positive_weights(targets, 3) == pytest.approx([1 / 3, 3.0, 100.0])  # no positive: clipped
    assert positive_weights(np.array([1, 0, 0, 0]), 1) == pytest.approx([3.0])  # binary: the positive label's
    assert positive_weights(np.array([0, 0, 1, 2]), 3) == pytest.approx([1.0, 3.0, 3.0])  # one-hot classes
    spec = load_spec({"model": {"encoders": {"t": {"type": "hf_text", "path": "x"}}, "fusion": "concat"},
                      "train": {"loss": {"type": "bce", "pos_weight": "auto"}}})
    loss = build_loss(spec.train, 3, task="multilabel", targets=targets)
    assert torch.allclose(loss.pos_weight, torch.tensor([1 / 3, 3.0, 100.0]))
    assert build_loss(spec.train, 3, task="multilabel").pos_weight is None  # scoring a run needs no weights


def test_the_task_picks_the_default_loss_and_refuses_one_that_does_not_handle_it() -> None:
    spec = load_spec({"model": {"encoders": {"t": {"type": "hf_text", "path": "x"}}, "fusion": "concat"}})
    assert isinstance(build_loss(spec.train, 3), CrossEntropy)
    assert isinstance(build_loss(spec.train, 3, task="multilabel"), BinaryCrossEntropy)
    focal = load_spec({**spec.model_dump(mode="json"), "train": {"loss": "focal"}})
    with pytest.raises(SpecError, match="loss 'focal' handles multiclass data, not binary; use bce"):
        build_loss(focal.train, 1, task="binary")


def test_class_weights_are_inverse_frequencies() -> None:
    weights = class_weights(np.array([0, 0, 0, 1]), 3)
    assert torch.allclose(weights, torch.tensor([4 / 9, 4 / 3, 4 / 3]))


@pytest.mark.slow
@pytest.mark.parametrize("loss", ["{type: focal, gamma: 2}", "bce"])
def test_focal_and_bce_learn_xor(loss: str, xor_data: Path, tiny_bert: Path, feature_cache: Path,
                                 tmp_path: Path) -> None:
    spec = xor_spec(tmp_path, xor_data, tiny_bert, feature_cache, extra=f"  loss: {loss}\n")
    result = fit(spec, out=tmp_path / "run")
    assert result.test_metrics["accuracy"] >= 0.85  # chance is 0.5: each input alone says nothing
    assert evaluate(result.run_dir).accuracy == pytest.approx(result.test_metrics["accuracy"])
    scores = Predictor(result.run_dir, device="cpu").predict_proba([{"text": "alpha"}, {"text": "beta two"}])
    sums = scores.sum(axis=1)
    if loss == "bce":  # sigmoid scores: one per class, not a distribution
        assert not np.allclose(sums, 1.0)
    else:
        assert np.allclose(sums, 1.0, atol=1e-5)
