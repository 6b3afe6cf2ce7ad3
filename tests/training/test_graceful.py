"""``train.graceful``: every row also trains with each input alone (and, from three inputs, each left out)."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
import torch
from torch import nn

from mmfusion.model.batch import Batch
from mmfusion.training.balance import BalancedTraining
from mmfusion.training.modality_dropout import with_subset_copies

from .test_balance import _batch, _model


def _presence(*rows: str, names: str = "abc") -> dict[str, torch.Tensor]:
    """``_presence("ab", "c")``: row 0 has inputs a and b, row 1 only c."""
    return {m: torch.tensor([m in row for row in rows]) for m in names}


def _rows(batch: Batch, names: str = "abc") -> list[tuple[int, str]]:
    labels = batch.labels.tolist()
    return [(labels[i], "".join(m for m in names if bool(batch.present[m][i]))) for i in range(len(batch))]


def test_copies_are_every_proper_subset_a_row_has_each_once() -> None:
    present = _presence("abc", "ab", "c", "")
    batch = Batch(inputs={}, present=present, labels=torch.arange(4), features={})
    extended, copies = with_subset_copies(batch, list("abc"))
    assert _rows(extended)[:4] == [(0, "abc"), (1, "ab"), (2, "c"), (3, "")]  # the batch's own rows first
    # abc: a, b, c alone and ab, ac, bc; ab: a and b (its leave-one-outs are the singles); c and "": nothing
    assert sorted(_rows(extended)[4:]) == [(0, "a"), (0, "ab"), (0, "ac"), (0, "b"), (0, "bc"), (0, "c"),
                                           (1, "a"), (1, "b")]
    assert copies == 8


def test_two_inputs_give_each_input_alone() -> None:
    batch = Batch(inputs={}, present=_presence("ab", "a", "ab", names="ab"), labels=torch.arange(3), features={})
    extended, copies = with_subset_copies(batch, ["a", "b"])
    assert copies == 4 and sorted(_rows(extended, "ab")[3:]) == [(0, "a"), (0, "b"), (2, "a"), (2, "b")]
    single = Batch(inputs={}, present=_presence("a", "b", names="ab"), labels=torch.arange(2), features={})
    assert with_subset_copies(single, ["a", "b"]) == (single, 0)


def test_the_objective_adds_the_weighted_loss_of_the_copies(tmp_path: Path, tiny_bert: Path) -> None:
    spec, model = _model(tmp_path, tiny_bert, "train:\n  graceful: {weight: 0.5}\n")
    batch = _batch(model, size=8)
    balance = BalancedTraining.for_spec(spec.train, model, lambda x: torch.softmax(x, 1))
    assert balance is not None
    balance.start_epoch(1)
    model.train()
    objective, fused = balance.loss(model, batch, nn.functional.cross_entropy, contextlib.nullcontext)
    extended, copies = with_subset_copies(batch, model.modalities)
    assert copies == int((batch.present["image"] & batch.present["text"]).sum()) * 2 > 0
    with torch.no_grad():
        logits = model(extended, parts=True).logits
        own = nn.functional.cross_entropy(logits[:len(batch)], batch.labels)
        rest = nn.functional.cross_entropy(logits[len(batch):], extended.labels[len(batch):])
    assert float(objective.detach()) == pytest.approx(float(own + 0.5 * rest), rel=1e-5)
    assert float(fused.detach()) == pytest.approx(float(own), rel=1e-5)


def test_graceful_true_is_the_default_weight(tmp_path: Path, tiny_bert: Path) -> None:
    spec, _ = _model(tmp_path, tiny_bert, "train:\n  graceful: true\n")
    assert spec.train.graceful is not None and spec.train.graceful.weight == 0.25


@pytest.mark.slow
def test_a_graceful_model_keeps_what_each_input_alone_knows(tmp_path: Path, tiny_bert: Path,
                                                            feature_cache: Path) -> None:
    """Four classes, the pair (tone, keyword): each input alone can get at most half of them (0.5)."""
    from mmfusion.api import evaluate, fit
    from mmfusion.testing.data import make_xor_dataset

    from ..conftest import xor_spec

    data = make_xor_dataset(tmp_path / "data", n=300, task="pairs")
    spec = xor_spec(tmp_path, data, tiny_bert, feature_cache, extra="  graceful: true\n")
    fit(spec, out=tmp_path / "run")
    scores = {r["condition"]: r["accuracy"] for r in evaluate(tmp_path / "run").robustness}
    assert scores["all modalities"] >= 0.95
    assert scores["without image"] >= 0.4 and scores["without text"] >= 0.4  # near the 0.5 either input allows


def test_graceful_is_on_by_default_for_a_fusion_meant_for_missing_inputs(tmp_path: Path, tiny_bert: Path) -> None:
    from mmfusion.model.builder import build_model
    from mmfusion.spec import load_spec
    from mmfusion.training.balance import graceful_spec

    from ..conftest import write_spec
    from .test_balance import SPEC

    spec, model = _model(tmp_path, tiny_bert)
    assert spec.train.graceful == "auto" and graceful_spec(spec.train, model) is None  # concat: off
    assert BalancedTraining.for_spec(spec.train, model, lambda x: x) is None  # it trains as it always did
    missing = SPEC.format(bert=tiny_bert, train="").replace("{type: concat, projection_dim: 8}",
                                                            "{type: missing_modality}")
    auto = load_spec(write_spec(tmp_path, missing, "auto.yaml"))
    off = load_spec(write_spec(tmp_path, missing + "train:\n  graceful: false\n", "off.yaml"))
    assert graceful_spec(auto.train, build_model(auto, 3)).weight == 0.25
    assert off.train.graceful is None and graceful_spec(off.train, build_model(off, 3)) is None
