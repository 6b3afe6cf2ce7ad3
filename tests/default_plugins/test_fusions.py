"""Built-in fusions' own behaviour (the shared contract is in tests/testing/test_conformance.py)."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from mmfusion import BuildContext, get_registry
from mmfusion.default_plugins.attention import AttentionConfig, AttentionFusion
from mmfusion.default_plugins.concat import ConcatConfig, ConcatFusion
from mmfusion.default_plugins.missing_modality import MissingModalityConfig, MissingModalityFusion
from mmfusion.testing.fusion_checks import make_outputs, make_present
from mmfusion.training.modality_dropout import drop_inputs

DIMS = {"text": 12, "image": 8, "extra": 6}


def test_concat_widths_and_presence_flags() -> None:
    fusion = ConcatFusion(ConcatConfig(), DIMS)
    assert fusion.output_dim == 12 + 8 + 6 + 3
    out = fusion(make_outputs(), make_present())
    present = make_present()
    # flags are the last three columns, in sorted modality order (extra, image, text)
    expected = torch.stack([present[m] for m in ("extra", "image", "text")], 1).float()
    assert torch.equal(out[:, -3:], expected)
    assert ConcatFusion(ConcatConfig(projection_dim=4, presence_flags=False), DIMS).output_dim == 12


def test_attention_validates_heads_and_attends_over_tokens() -> None:
    with pytest.raises(ValidationError, match="divisible"):
        AttentionConfig(dim=30, num_heads=4)
    fusion = AttentionFusion(AttentionConfig(dim=16, num_heads=2), DIMS).eval()
    outputs, present = make_outputs(), make_present()
    base = fusion(outputs, present)
    # changing one visible token of a present modality changes the output: tokens are attended
    changed = dict(outputs)
    tokens = outputs["image"].tokens.clone()
    tokens[0, 1] = torch.randn(tokens.shape[-1])
    changed["image"] = outputs["image"]._replace(tokens=tokens)
    assert not torch.allclose(fusion(changed, present)[0], base[0])
    pooled_only = AttentionFusion(AttentionConfig(dim=16, num_heads=2, use_tokens=False), DIMS).eval()
    assert torch.allclose(pooled_only(changed, present)[0], pooled_only(outputs, present)[0])


def test_modality_dropout_keeps_one_modality_per_sample() -> None:
    torch.manual_seed(0)
    present = {m: torch.ones(2000, dtype=torch.bool) for m in ("a", "b")}
    present["b"][:500] = False
    kept = drop_inputs(present, {"a": 0.5, "b": 0.5}, ["a", "b"])  # what missing_modality's dropout draws
    stacked = torch.stack([kept["a"], kept["b"]], 1)
    assert stacked.any(1).all()  # never everything dropped
    assert not (kept["b"] & ~present["b"]).any()  # never resurrects an absent modality
    rate = 1 - kept["a"][500:].float().mean()
    assert 0.2 < rate < 0.45  # ~ p, minus rescues of samples that lost both


def test_missing_modality_uses_placeholders_and_drops_only_in_training() -> None:
    config = MissingModalityConfig.model_validate({"inner": {"type": "concat"}, "modality_dropout": 0.5})
    fusion = MissingModalityFusion(config, DIMS, context=BuildContext(get_registry()))
    outputs = make_outputs()
    everyone = {m: torch.ones(5, dtype=torch.bool) for m in DIMS}
    fusion.eval()
    assert torch.equal(fusion(outputs, everyone), fusion(outputs, everyone))  # no dropout in eval
    fusion.train()
    torch.manual_seed(0)
    assert not torch.equal(fusion(outputs, everyone), fusion(outputs, everyone))
    fusion.eval()
    present = make_present()
    out = fusion(outputs, present)
    # row 1 lacks 'extra': its slot holds the learned placeholder, flagged present for the inner concat
    assert torch.allclose(out[1, :6], fusion.inner.norms["extra"](fusion.placeholder_pooled["extra"]))
    assert out[1, -3] == 1.0
