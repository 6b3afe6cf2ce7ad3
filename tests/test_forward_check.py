"""`check_forward` (and `mmfusion build`): each component's output is checked against the width it declares."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Literal

import pytest
import torch
from click.testing import CliRunner
from torch import nn

from mmfusion import (
    Classifier,
    Encoder,
    EncoderConfig,
    EncoderOutput,
    HeadConfig,
    build_model,
    check_forward,
    hookimpl,
    load_spec,
)
from mmfusion.cli import cli
from mmfusion.errors import PluginError
from mmfusion.registry import get_registry, load_registry

from .conftest import write_spec
from .plugin_fixtures import WRONG_DIM, make_distribution, use_site


class LiarConfig(EncoderConfig):
    type: Literal["liar_test"] = "liar_test"
    width: int = 300
    tokens: bool = False
    mask: Literal["good", "int", "short"] = "good"


class LiarEncoder(Encoder):
    """Declares output_dim 256 whatever it returns."""

    name = "liar_test"
    Config = LiarConfig
    modality = "text"

    def __init__(self, config: LiarConfig) -> None:
        super().__init__(config)
        self.proj = nn.Linear(4, config.width)
        self.output_dim = 256
        self.provides_tokens = config.tokens

    def preprocess(self, value, *, train=False):  # type: ignore[no-untyped-def]
        return {"x": torch.full((4,), float(len(str(value))))}

    def forward(self, inputs):  # type: ignore[no-untyped-def]
        pooled = self.proj(inputs["x"])
        if not self.config.tokens:
            return EncoderOutput(pooled)
        tokens = pooled.unsqueeze(1).expand(-1, 3, -1)
        mask = torch.ones(tokens.shape[:2], dtype=torch.bool)
        if self.config.mask == "int":
            mask = mask.long()
        elif self.config.mask == "short":
            mask = mask[:, :2]
        return EncoderOutput(pooled, tokens, mask)

    def example_input(self, rng: random.Random):  # type: ignore[no-untyped-def]
        return "x" * rng.randint(1, 5)


class ShortHeadConfig(HeadConfig):
    type: Literal["short_head_test"] = "short_head_test"


class ShortHead(Classifier):
    """One score fewer than there are classes."""

    name = "short_head_test"
    Config = ShortHeadConfig

    def __init__(self, config, input_dim, num_classes):  # type: ignore[no-untyped-def]
        super().__init__(config, input_dim, num_classes)
        self.linear = nn.Linear(input_dim, num_classes - 1)

    def forward(self, features):  # type: ignore[no-untyped-def]
        return self.linear(features)


class _Plugin:
    @hookimpl
    def mmfusion_encoders(self):  # type: ignore[no-untyped-def]
        return [LiarEncoder]

    @hookimpl
    def mmfusion_heads(self):  # type: ignore[no-untyped-def]
        return [ShortHead]


@pytest.fixture(scope="module")
def registry():  # type: ignore[no-untyped-def]
    return load_registry(autoload=False, extra=[_Plugin()])


def _model(registry, encoder: dict, head: str = "linear", fusion: str = "concat"):  # type: ignore[no-untyped-def]
    spec = load_spec({"model": {"encoders": {"text": encoder}, "fusion": fusion, "head": head}}, registry=registry)
    return build_model(spec, 3, registry=registry)


@pytest.mark.parametrize(("encoder", "expected"), [
    ({"width": 300}, "model.encoders.text (liar_test): pooled output has width 300, but the encoder declares "
                     "output_dim 256"),
    ({"width": 256, "tokens": True, "mask": "int"},
     "model.encoders.text (liar_test): token_mask has shape (4, 3) and dtype torch.int64, expected bool (4, 3)"),
    ({"width": 256, "tokens": True, "mask": "short"},
     "model.encoders.text (liar_test): token_mask has shape (4, 2) and dtype torch.bool, expected bool (4, 3)"),
])
def test_encoder_outputs_are_checked_against_output_dim(registry, encoder: dict, expected: str) -> None:  # type: ignore
    model = _model(registry, {"type": "liar_test", **encoder})
    with pytest.raises(PluginError) as info:
        check_forward(model)
    assert str(info.value).startswith(expected)


def test_head_scores_are_checked_against_num_classes(registry) -> None:  # type: ignore
    model = _model(registry, {"type": "liar_test", "width": 256}, head="short_head_test")
    with pytest.raises(PluginError, match=r"^model\.head \(short_head_test\): returned scores of shape \(4, 2\), "
                                          r"but the model has 3 classes"):
        check_forward(model)


def test_a_healthy_model_passes_and_reports_the_batch(registry) -> None:  # type: ignore
    report = check_forward(_model(registry, {"type": "liar_test", "width": 256, "tokens": True}))
    assert report.batch_size == 4 and report.logits_shape == (4, 3)
    assert report.present == {"text": [True, True, True, True]}


def test_a_component_that_raises_is_named(registry) -> None:  # type: ignore
    model = _model(registry, {"type": "liar_test", "width": 256})
    model.fusion.norms["text"] = nn.LayerNorm(7)  # a bug inside the fusion
    with pytest.raises(PluginError, match=r"^model\.fusion \(concat\): the forward pass on a dummy batch failed: "):
        check_forward(model)


@pytest.fixture
def wrong_dim_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    site = tmp_path / "site"
    site.mkdir()
    make_distribution(site, "mmfusion-wrongdim", {"wrongdim_plugin": WRONG_DIM}, {"wrongdim": "wrongdim_plugin"})
    use_site(site, monkeypatch)
    yield site
    get_registry.cache_clear()


@pytest.mark.usefixtures("wrong_dim_site")
def test_mmfusion_build_names_a_fusion_whose_output_is_not_its_output_dim(tmp_path: Path, tiny_bert: Path) -> None:
    spec = write_spec(tmp_path, f"model:\n  encoders:\n    text: {{type: hf_text, path: {tiny_bert}}}\n"
                                "  fusion: wrong_dim\n")
    result = CliRunner().invoke(cli, ["build", str(spec)])
    assert result.exit_code == 2, result.output
    assert "error: model.fusion (wrong_dim): output has width 4, but the fusion declares output_dim 5" in result.output
    assert "mat1" not in result.output
