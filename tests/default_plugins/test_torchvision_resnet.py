"""torchvision ResNet encoder: architectures, grid tokens, local weights, offline cache (downloads: test_downloads)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

from mmfusion.default_plugins.torchvision_resnet import TorchvisionResNetConfig, TorchvisionResNetEncoder
from mmfusion.errors import WeightsError


def test_resnet50_is_the_default_with_imagenet_statistics() -> None:
    config = TorchvisionResNetConfig()
    assert config.arch == "resnet50" and not config.pretrained
    encoder = TorchvisionResNetEncoder(config)
    assert encoder.output_dim == 2048 and encoder.image_size == 224
    assert encoder.mean == (0.485, 0.456, 0.406)


def test_grid_tokens_and_pooled() -> None:
    encoder = TorchvisionResNetEncoder(TorchvisionResNetConfig(arch="resnet18", image_size=64)).eval()
    rng = random.Random(0)
    out = encoder(encoder.collate([encoder.preprocess(encoder.example_input(rng)) for _ in range(2)]))
    assert out.pooled.shape == (2, 512) and out.tokens.shape == (2, 4, 512)
    assert torch.allclose(out.pooled, out.tokens.mean(1), atol=1e-5)
    no_tokens = TorchvisionResNetEncoder(TorchvisionResNetConfig(arch="resnet18", image_size=64, tokens=False))
    assert no_tokens.eval()(encoder.collate([encoder.preprocess(encoder.example_input(rng))])).tokens is None


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_local_weights_file_loads(tmp_path: Path, suffix: str) -> None:
    import torchvision
    from safetensors.torch import save_file

    torch.manual_seed(3)
    source = torchvision.models.resnet18()
    path = tmp_path / f"resnet18{suffix}"
    state = {k: v.contiguous() for k, v in source.state_dict().items()}
    if suffix == ".safetensors":
        save_file(state, str(path))
    else:
        torch.save({"state_dict": state}, path)  # nested like training checkpoints
    encoder = TorchvisionResNetEncoder(TorchvisionResNetConfig(arch="resnet18", weights=str(path)))
    assert torch.equal(encoder.net.conv1.weight, source.conv1.weight)
    assert encoder.weights_path == path


def test_offline_pretrained_without_cache_fails_with_instructions(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("MMFUSION_OFFLINE", "1")
    with pytest.raises(WeightsError) as info:
        TorchvisionResNetEncoder(TorchvisionResNetConfig(arch="resnet18", pretrained=True))
    message = str(info.value)
    assert "offline mode is on (MMFUSION_OFFLINE=1)" in message and "nothing is downloaded" in message
    assert str(tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth") in message and "weights:" in message


def test_offline_pretrained_uses_the_torch_hub_cache(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import torchvision

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("MMFUSION_OFFLINE", "1")
    torch.manual_seed(5)
    source = torchvision.models.resnet18()
    cached = tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    cached.parent.mkdir(parents=True)
    torch.save(source.state_dict(), cached)  # where torchvision itself downloads it to
    encoder = TorchvisionResNetEncoder(TorchvisionResNetConfig(arch="resnet18", pretrained=True))
    assert torch.equal(encoder.net.layer4[1].conv2.weight, source.layer4[1].conv2.weight)
    assert encoder.weights_path == cached and encoder.pretrained
