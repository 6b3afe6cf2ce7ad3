"""Shapley values over inputs: known answers for hand-made value functions."""

from __future__ import annotations

import itertools

import pytest
import torch

from mmfusion.inference.attribution import EXACT_UP_TO, attribute, coalition_present, explained_logits, shapley


def _game(weights: list[float], interaction: float = 0.0):  # type: ignore[no-untyped-def]
    """v(S) = sum of the members' weights, + interaction when inputs 0 and 1 are both in S: one row, one output."""
    def value(mask: int) -> torch.Tensor:
        members = [k for k in range(len(weights)) if mask >> k & 1]
        total = sum(weights[k] for k in members) + (interaction if {0, 1} <= set(members) else 0.0)
        return torch.tensor([[total]])
    return value


def test_additive_inputs_get_their_own_weight_exactly() -> None:
    phi, baseline, exact = shapley(_game([1.0, -2.0, 0.5]), 3)
    assert exact and phi.flatten().tolist() == pytest.approx([1.0, -2.0, 0.5]) and baseline.item() == 0


def test_an_interaction_is_shared_equally_and_efficiency_holds() -> None:
    phi, baseline, _ = shapley(_game([0.0, 0.0], interaction=3.0), 2)  # XOR-like: only both together count
    assert phi.flatten().tolist() == pytest.approx([1.5, 1.5])
    assert float(phi.sum() + baseline) == pytest.approx(3.0)


def test_exact_matches_the_definition_over_every_order() -> None:
    value = _game([0.3, 1.1, -0.7, 2.0], interaction=-1.3)
    phi, _, exact = shapley(value, 4)
    by_orders = torch.zeros(4)
    orders = list(itertools.permutations(range(4)))
    for order in orders:
        mask = 0
        for i in order:
            by_orders[i] += float(value(mask | 1 << i) - value(mask))
            mask |= 1 << i
    assert exact and phi.flatten().tolist() == pytest.approx((by_orders / len(orders)).tolist())


def test_above_the_exact_limit_orders_are_sampled_and_efficiency_still_holds() -> None:
    count = EXACT_UP_TO + 1
    weights = [0.5 * k for k in range(count)]
    phi, baseline, exact = shapley(_game(weights, interaction=2.0), count, samples=200)
    assert not exact
    assert float(phi.sum() + baseline) == pytest.approx(sum(weights) + 2.0)  # every order sums exactly
    assert phi[2:].flatten().tolist() == pytest.approx(weights[2:], abs=1e-9)  # additive inputs: exact anyway
    assert phi[0].item() == pytest.approx(1.0, abs=0.3) and phi[1].item() == pytest.approx(1.5, abs=0.3)


def test_a_row_without_an_input_gives_it_nothing() -> None:
    present = {"image": torch.tensor([True, False]), "text": torch.tensor([True, True])}

    def value(mask: int) -> torch.Tensor:
        chosen = coalition_present(present, ["image", "text"], mask)
        return (2.0 * chosen["image"].float() + chosen["text"].float()).reshape(2, 1)

    contributions, baseline, _ = attribute(value, ["image", "text"], centred=False)
    assert contributions["image"].flatten().tolist() == [2.0, 0.0]
    assert contributions["text"].flatten().tolist() == [1.0, 1.0]


def test_softmax_logits_are_explained_less_their_mean() -> None:
    logits = torch.tensor([[1.0, 2.0, 6.0]])
    assert explained_logits(logits, centred=True).tolist() == [[-2.0, -1.0, 3.0]]
    assert explained_logits(logits, centred=False).tolist() == logits.tolist()


def test_reliance_shares_add_up_and_means_point_towards_each_rows_decision() -> None:
    import numpy as np

    from mmfusion.inference.attribution import Attribution, tempered
    from mmfusion.inference.reliance import reliance

    # binary: one logit; row 0 predicted positive (the text pushed up), row 1 negative (the text pushed down)
    found = Attribution({"image": np.array([[0.5], [0.0]]), "text": np.array([[1.5], [-2.0]])},
                        np.zeros((2, 1)), exact=True)
    summary = reliance(found, "binary", np.array([[0.2, 0.8], [0.9, 0.1]]), ["no", "yes"], [0.5], softmax=False)
    assert summary["share"] == {"image": 0.125, "text": 0.875}
    assert summary["mean"] == {"image": 0.25, "text": 1.75}  # both towards the decision made
    assert [(c["class"], c["rows"]) for c in summary["per_class"]] == [("no", 1), ("yes", 1)]
    assert summary["per_class"][0]["share"] == {"image": 0.0, "text": 1.0}
    # a calibrated run's values are in the units of its scaled logits
    assert tempered(np.array([[2.0, 4.0]]), [2.0]).tolist() == [[1.0, 2.0]]
    assert tempered(np.array([[2.0, 4.0]]), [1.0, 4.0]).tolist() == [[2.0, 1.0]]


def test_the_full_coalition_is_not_computed_again_when_given() -> None:
    asked: list[int] = []
    game = _game([1.0, 2.0])

    def value(mask: int) -> torch.Tensor:
        asked.append(mask)
        return game(mask)

    phi, _, _ = shapley(value, 2, full=game(3))
    assert sorted(asked) == [0, 1, 2] and phi.flatten().tolist() == pytest.approx([1.0, 2.0])
