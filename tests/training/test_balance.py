"""The options against modality imbalance, one training step at a time: gradient modulation scales exactly the
parameters of the dominant input, the unimodal heads learn, dropout follows its schedule, and a model built
without the options is the model it always was."""

from __future__ import annotations

import contextlib
import copy
import math
from pathlib import Path

import pytest
import torch
from torch import nn

from mmfusion.model.builder import build_fusion, build_model
from mmfusion.model.featurizer import example_batch
from mmfusion.model.unimodal import mix_logits
from mmfusion.registry import get_registry
from mmfusion.spec import load_spec
from mmfusion.spec.balance_spec import ModalityDropoutSpec, ModulationSpec
from mmfusion.training.balance import BalancedTraining
from mmfusion.training.modality_dropout import drop_inputs, with_dropped_copies
from mmfusion.training.modulation import GradientModulation, modulated_parameters

from ..conftest import write_spec

SPEC = """\
model:
  encoders:
    image: {{type: timm, model_name: test_efficientnet, image_size: 32, freeze: false}}
    text: {{type: hf_text, path: {bert}, freeze: true, pooling: mean}}
  fusion: {{type: concat, projection_dim: 8}}
  head: linear
{train}"""


def _model(tmp_path: Path, bert: Path, train: str = "", classes: int = 3):  # type: ignore[no-untyped-def]
    spec = load_spec(write_spec(tmp_path, SPEC.format(bert=bert, train=train)))
    torch.manual_seed(0)
    return spec, build_model(spec, classes)


def _batch(model, size: int = 6):  # type: ignore[no-untyped-def]
    batch = example_batch(model, size=size, seed=3)  # rows 1.. lack one input each, row 0 has both
    batch.labels = torch.arange(size) % model.num_classes
    return batch


def _grads(model: nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def _step(model, batch, modulation=None) -> dict[str, torch.Tensor]:  # type: ignore[no-untyped-def]
    model.train()
    model.zero_grad(set_to_none=True)
    parts = model(batch, parts=True)
    if modulation is not None:
        modulation.update(parts, batch)
    nn.functional.cross_entropy(parts.logits, batch.labels).backward()
    return _grads(model)


def test_modulation_scales_exactly_the_dominant_inputs_parameters(tmp_path: Path, tiny_bert: Path) -> None:
    _, model = _model(tmp_path, tiny_bert)
    batch = _batch(model)
    reference = _step(copy.deepcopy(model), batch)
    modulation = GradientModulation(ModulationSpec(alpha=0.7, noise=False), model, lambda x: torch.softmax(x, 1))
    modulation.attach()
    modulation.start_epoch(1)
    modulated = _step(model, batch, modulation)
    # by hand: each input alone through fusion and head, the true class's softmax summed over complete rows
    with torch.no_grad():
        encoded = model.encode(batch)
        complete = batch.present["image"] & batch.present["text"]
        score = {}
        for m in ("image", "text"):
            alone = {k: batch.present[k] & (k == m) for k in ("image", "text")}
            p = torch.softmax(model.head(model.fusion(encoded, alone)), dim=1)
            score[m] = float(p[torch.arange(len(batch)), batch.labels][complete].sum())
    expected = {m: 1 - math.tanh(0.7 * max(0.0, score[m] / score[o] - 1))
                for m, o in (("image", "text"), ("text", "image"))}
    assert min(expected.values()) < 0.99 and max(expected.values()) == 1.0  # one input dominates this batch
    assert modulation.coefficients == pytest.approx(expected, rel=1e-6)
    groups = {m: {id(p) for p in params} for m, params in modulated_parameters(model).items()}
    names = {id(p): n for n, p in model.named_parameters()}
    image_names = {names[i] for i in groups["image"]}
    assert any(n.startswith("encoders.image.") for n in image_names)  # the fine-tuned encoder is modulated
    assert "fusion.projections.image.0.weight" in image_names and "fusion.norms.image.weight" in image_names
    assert {names[i] for i in groups["text"]} == {n for n in names.values() if ".text." in n
                                                  and n.startswith("fusion.")}  # the frozen encoder is not
    for name, grad in reference.items():
        owner = next((m for m, ids in groups.items() if name in {names[i] for i in ids}), None)
        if owner is None:
            assert torch.equal(modulated[name], grad), name  # the head and shared layers: untouched
        else:
            torch.testing.assert_close(modulated[name], grad * expected[owner], rtol=1e-5, atol=1e-8)
    modulation.detach()
    assert torch.equal(_step(model, batch)["head.layers.1.weight"], reference["head.layers.1.weight"])


def test_modulation_noise_and_its_last_epoch(tmp_path: Path, tiny_bert: Path) -> None:
    _, model = _model(tmp_path, tiny_bert)
    batch = _batch(model)
    reference = _step(copy.deepcopy(model), batch)
    modulation = GradientModulation(ModulationSpec(alpha=0.7, noise=True, until_epoch=2), model,
                                    lambda x: torch.softmax(x, 1))
    modulation.attach()
    modulation.start_epoch(2)
    noisy = _step(model, batch, modulation)
    weight = "fusion.projections.text.0.weight"
    expected = reference[weight] * modulation.coefficients["text"]
    assert not torch.allclose(noisy[weight], expected)  # GE: Gaussian noise with the gradient's own spread
    assert (noisy[weight] - expected).std() == pytest.approx(float(reference[weight].std()), rel=0.3)
    assert torch.equal(noisy["head.layers.1.weight"], reference["head.layers.1.weight"])
    modulation.start_epoch(3)  # after until_epoch: gradients as without modulation
    assert all(torch.equal(g, reference[n]) for n, g in _step(model, batch, modulation).items())
    assert modulation.epoch_metrics() == {"modulation_image": 1.0, "modulation_text": 1.0}


@pytest.mark.parametrize("fusion", ["concat", "attention", "gated", "sum", "mean", "tensor", "low_rank_tensor",
                                    "film", "late", "missing_modality"])
def test_every_built_in_fusion_names_each_inputs_own_layers(fusion: str) -> None:
    config = get_registry().get("fusion", fusion).Config()
    built = build_fusion(config, {"image": 12, "text": 10}, num_classes=3)
    owned = {m: {id(p) for p in built.modality_parameters(m)} for m in ("image", "text")}
    assert owned["image"] and owned["text"], "every input has layers of its own"
    assert not owned["image"] & owned["text"]
    by_name = {id(p): n for n, p in built.named_parameters()}
    if fusion == "film":  # the FiLM generators read the conditioning input (text) only
        assert {by_name[i] for i in owned["text"]} >= {"condition_norm.weight", "film.image.weight"}
    if fusion == "missing_modality":  # its placeholders and its inner fusion's layers
        assert {"placeholder_pooled.image", "inner.norms.image.weight"} <= {by_name[i] for i in owned["image"]}


def test_dropout_rates_ramp_up_over_the_warmup_epochs() -> None:
    spec = ModalityDropoutSpec(rate={"text": 0.6}, warmup_epochs=3)
    rates = [spec.rates(["image", "text"], epoch) for epoch in range(1, 6)]
    assert [r["text"] for r in rates] == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.6])
    assert all(r["image"] == 0.0 for r in rates)  # inputs the mapping leaves out are never dropped
    assert ModalityDropoutSpec.model_validate(0.3).rates(["a", "b"], 1) == {"a": 0.3, "b": 0.3}


def test_drop_inputs_drops_each_input_at_its_rate_and_keeps_one() -> None:
    torch.manual_seed(0)
    n = 40000
    present = {"image": torch.ones(n, dtype=torch.bool), "text": torch.arange(n) % 4 != 0}
    kept = drop_inputs(present, {"image": 0.2, "text": 0.5}, ["image", "text"])
    assert not (kept["text"] & ~present["text"]).any()  # an absent input stays absent
    assert (kept["image"] | kept["text"]).all()  # every row keeps an input
    both = present["text"]
    # rows with both inputs: when both draws drop (0.2 × 0.5), one of the two is kept at random
    assert float((~kept["image"][both]).float().mean()) == pytest.approx(0.2 - 0.1 / 2, abs=0.01)
    assert float((~kept["text"][both]).float().mean()) == pytest.approx(0.5 - 0.1 / 2, abs=0.01)
    assert kept["image"][~both].all()  # the only input of a row is never dropped


def test_keep_full_adds_the_dropped_rows_instead_of_replacing_them(tmp_path: Path, tiny_bert: Path) -> None:
    train = "train:\n  modality_dropout: {rate: 0.5, keep_full: true}\n  aux_unimodal: {weight: 0.25}\n"
    spec, model = _model(tmp_path, tiny_bert, train)
    batch = _batch(model, size=8)
    balance = BalancedTraining.for_spec(spec.train, model, lambda x: torch.softmax(x, 1))
    balance.start_epoch(1)
    model.train()
    torch.manual_seed(5)
    dropped = drop_inputs(batch.present, {"image": 0.5, "text": 0.5}, model.modalities)
    extended, copies = with_dropped_copies(batch, dropped)
    changed = [i for i in range(len(batch)) if any(bool(batch.present[m][i] & ~dropped[m][i]) for m in dropped)]
    assert copies == len(changed) > 0
    assert len(extended) == len(batch) + copies
    for m in model.modalities:  # the batch's own rows keep every input; the copies carry the dropped masks
        assert torch.equal(extended.present[m][:len(batch)], batch.present[m])
        assert torch.equal(extended.present[m][len(batch):], dropped[m][changed])
    assert torch.equal(extended.labels[len(batch):], batch.labels[changed])
    for m, inputs in batch.inputs.items():  # each copy holds its row's encoder inputs
        for key, value in inputs.items():
            assert torch.equal(extended.inputs[m][key][len(batch):], value[changed])

    torch.manual_seed(5)  # the same draw inside the step
    objective, fused = balance.loss(model, batch, nn.functional.cross_entropy, contextlib.nullcontext)
    with torch.no_grad():  # by hand: the loss over the rows and their copies; train_loss over the rows alone
        parts = model(extended, parts=True)
        own = parts.logits[:len(batch)]
        aux = sum(nn.functional.cross_entropy(parts.aux[m][:len(batch)][batch.present[m]],
                                              batch.labels[batch.present[m]]) for m in model.modalities)
        expected = nn.functional.cross_entropy(parts.logits, extended.labels) + 0.25 * aux
    assert float(objective.detach()) == pytest.approx(float(expected), rel=1e-5)
    assert float(fused.detach()) == pytest.approx(float(nn.functional.cross_entropy(own, batch.labels)), rel=1e-5)
    objective.backward()  # one forward pass over rows and copies: no DDP-unfriendly second pass
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.head.parameters())


def test_keep_full_with_nothing_dropped_is_the_plain_batch(tmp_path: Path, tiny_bert: Path) -> None:
    _, model = _model(tmp_path, tiny_bert)
    batch = _batch(model)
    extended, copies = with_dropped_copies(batch, dict(batch.present))
    assert copies == 0 and extended is batch


def test_unimodal_heads_learn_beside_the_fused_head(tmp_path: Path, tiny_bert: Path) -> None:
    spec, model = _model(tmp_path, tiny_bert, "train:\n  aux_unimodal: {weight: 0.25}\n")
    batch = _batch(model)
    balance = BalancedTraining.for_spec(spec.train, model, lambda x: torch.softmax(x, 1))
    balance.start_epoch(1)
    model.train()
    objective, fused = balance.loss(model, batch, nn.functional.cross_entropy, contextlib.nullcontext)
    objective.backward()
    for m in ("image", "text"):
        grad = model.aux.heads[m][1].weight.grad
        assert grad is not None and grad.abs().sum() > 0
    with torch.no_grad():  # by hand: each head's loss over the rows that have its input
        parts = model(batch, parts=True)
        expected = nn.functional.cross_entropy(parts.logits, batch.labels) + 0.25 * sum(
            nn.functional.cross_entropy(parts.aux[m][batch.present[m]], batch.labels[batch.present[m]])
            for m in ("image", "text"))
    assert float(objective.detach()) == pytest.approx(float(expected), rel=1e-5)
    plain_loss = nn.functional.cross_entropy(parts.logits, batch.labels)
    assert float(fused.detach()) == pytest.approx(float(plain_loss), rel=1e-5)
    row = balance.epoch_metrics()
    assert set(row) == {"train_aux_image_loss", "train_aux_text_loss"}


def test_a_model_without_the_options_has_the_weights_it_always_had(tmp_path: Path, tiny_bert: Path) -> None:
    _, plain = _model(tmp_path, tiny_bert)
    assert plain.aux is None and not any(k.startswith("aux.") for k in plain.state_dict())
    _, fused = _model(tmp_path, tiny_bert, "train:\n  aux_unimodal: {}\n")
    extra = set(fused.state_dict()) - set(plain.state_dict())
    assert extra == {f"aux.heads.{m}.{i}.{p}" for m in ("image", "text") for i in (0, 1) for p in ("weight", "bias")}
    _, mixed = _model(tmp_path, tiny_bert, "train:\n  aux_unimodal: {inference: mixture}\n")
    assert set(mixed.state_dict()) - set(fused.state_dict()) == {"aux.mixture"}
    batch = _batch(mixed)
    mixed.eval()
    with torch.no_grad():  # untuned, the mixture is the fused head alone, exactly
        assert torch.equal(mixed(batch), mixed.head(mixed.fusion(mixed.encode(batch), batch.present)))


def test_mixture_weighs_the_inputs_each_row_has() -> None:
    fused = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    aux = {"image": torch.tensor([[0.0, 4.0]] * 3), "text": torch.tensor([[0.0, -4.0]] * 3)}
    present = {"image": torch.tensor([True, False, False]), "text": torch.tensor([True, True, False])}
    mixed = mix_logits(torch.tensor([0.5, 0.25, 0.25]), fused, aux, present, ["image", "text"])
    torch.testing.assert_close(mixed[0], torch.tensor([0.5, 0.0]))  # (0.5 f + 0.25 i + 0.25 t) / 1
    torch.testing.assert_close(mixed[1], torch.tensor([2 / 3, -4 / 3]))  # no image: (0.5 f + 0.25 t) / 0.75
    only_image = mix_logits(torch.tensor([0.0, 1.0, 0.0]), fused, aux, present, ["image", "text"])
    torch.testing.assert_close(only_image[1], fused[1])  # a row without the one weighted input: fused
