"""`weights:` of any encoder is loaded by the builder: a plugin author who does nothing gets it right."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Literal

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from mmfusion import Encoder, EncoderConfig, EncoderOutput, build_model, hookimpl, load_spec
from mmfusion.errors import WeightsError
from mmfusion.registry import load_registry
from mmfusion.testing import run_checks


class BagConfig(EncoderConfig):
    type: Literal["bag_test"] = "bag_test"
    dim: int = 6


class BagEncoder(Encoder):
    """Character codes → embedding → mean; knows nothing about `weights:`."""

    name = "bag_test"
    Config = BagConfig
    modality = "text"

    def __init__(self, config: BagConfig) -> None:
        super().__init__(config)
        self.embedding = nn.Embedding(64, config.dim)
        self.output_dim = config.dim

    def preprocess(self, value, *, train=False):  # type: ignore[no-untyped-def]
        return {"ids": torch.tensor([ord(c) % 64 for c in str(value)[:8].ljust(8)])}

    def forward(self, inputs):  # type: ignore[no-untyped-def]
        return EncoderOutput(self.embedding(inputs["ids"]).mean(1))

    def example_input(self, rng: random.Random):  # type: ignore[no-untyped-def]
        return "".join(rng.choice("abcdef") for _ in range(6))


class WrappedConfig(BagConfig):
    type: Literal["wrapped_test"] = "wrapped_test"  # type: ignore[assignment]


class WrappedEncoder(BagEncoder):
    """Keeps its backbone in `self.net`; weights files hold the backbone's own tensors."""

    name = "wrapped_test"
    Config = WrappedConfig

    def __init__(self, config: WrappedConfig) -> None:
        super().__init__(config)
        self.net = nn.Sequential(nn.Linear(config.dim, config.dim))

    def forward(self, inputs):  # type: ignore[no-untyped-def]
        return EncoderOutput(self.net(self.embedding(inputs["ids"]).mean(1)))

    def weights_target(self) -> nn.Module:
        return self.net


class ForgetfulConfig(BagConfig):
    type: Literal["forgetful_test"] = "forgetful_test"  # type: ignore[assignment]


class ForgetfulEncoder(BagEncoder):
    """Claims to load its own weights but never does: the conformance kit must notice."""

    name = "forgetful_test"
    Config = ForgetfulConfig
    loads_own_weights = True


class _Plugin:
    @hookimpl
    def mmfusion_encoders(self):  # type: ignore[no-untyped-def]
        return [BagEncoder, WrappedEncoder, ForgetfulEncoder]


@pytest.fixture(scope="module")
def registry():  # type: ignore[no-untyped-def]
    return load_registry(autoload=False, extra=[_Plugin()])


def _build(registry, encoder: dict):  # type: ignore[no-untyped-def]
    spec = load_spec({"model": {"encoders": {"text": encoder}, "fusion": "concat"}}, registry=registry)
    return build_model(spec, 2, registry=registry).encoders["text"]


def test_a_plugin_encoder_gets_its_weights_file_loaded(registry, tmp_path: Path) -> None:  # type: ignore
    torch.manual_seed(3)
    saved = {"embedding.weight": torch.randn(64, 6)}
    save_file(saved, str(tmp_path / "bag.safetensors"))
    encoder = _build(registry, {"type": "bag_test", "weights": str(tmp_path / "bag.safetensors")})
    assert torch.equal(encoder.embedding.weight.detach(), saved["embedding.weight"])
    assert encoder.weights_path == tmp_path / "bag.safetensors" and encoder.pretrained
    assert not _build(registry, {"type": "bag_test"}).pretrained


def test_weights_go_into_weights_target(registry, tmp_path: Path) -> None:  # type: ignore
    saved = {"0.weight": torch.full((6, 6), 0.5), "0.bias": torch.full((6,), -1.0)}
    save_file(saved, str(tmp_path / "net.safetensors"))
    encoder = _build(registry, {"type": "wrapped_test", "weights": str(tmp_path / "net.safetensors")})
    assert torch.equal(encoder.net[0].weight.detach(), saved["0.weight"])


def test_a_weights_file_that_does_not_fit_names_the_spec_path(registry, tmp_path: Path) -> None:  # type: ignore
    save_file({"embedding.weight": torch.zeros(3, 3)}, str(tmp_path / "small.safetensors"))
    with pytest.raises(WeightsError, match=r"model\.encoders\.text\.weights .*other shapes"):
        _build(registry, {"type": "bag_test", "weights": str(tmp_path / "small.safetensors")})


def test_encoders_that_load_their_own_weights_are_left_alone(registry, tmp_path: Path) -> None:  # type: ignore
    save_file({"embedding.weight": torch.zeros(3, 3)}, str(tmp_path / "small.safetensors"))
    encoder = _build(registry, {"type": "forgetful_test", "weights": str(tmp_path / "small.safetensors")})
    assert encoder.embedding.weight.shape == (64, 6)  # not loaded twice (nor at all, here)


def test_conformance_kit_checks_that_weights_change_the_parameters() -> None:
    good = {r.check: r for r in run_checks(WrappedEncoder)}
    assert all(r.passed for r in good.values()), [r for r in good.values() if not r.passed]
    bad = {r.check: r for r in run_checks(ForgetfulEncoder)}
    assert not bad["check_encoder_loads_weights_option"].passed
    assert "`weights:` was ignored" in bad["check_encoder_loads_weights_option"].message
    assert all(r.passed for name, r in bad.items() if name != "check_encoder_loads_weights_option")
