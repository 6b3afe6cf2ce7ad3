"""Weights files: by name (wrapper prefixes ignored), by order for torch files, optional BatchNorm counters."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from mmfusion.errors import WeightsError
from mmfusion.weights.loading import load_weights_into


def _net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.LazyLinear(2))


def _trained() -> nn.Module:
    torch.manual_seed(0)
    net = _net()
    net(torch.randn(2, 3, 6, 6))
    for p in net.parameters():
        nn.init.normal_(p)
    return net


def _same(a: nn.Module, b: nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def _fresh() -> nn.Module:
    net = _net()
    net(torch.randn(2, 3, 6, 6))
    return net


def test_names_with_wrapper_prefixes_and_nesting(tmp_path: Path) -> None:
    source = _trained()
    torch.save({"state_dict": {f"module.{k}": v for k, v in source.state_dict().items()}}, tmp_path / "w.pth")
    target = _fresh()
    load_weights_into(target, str(tmp_path / "w.pth"))
    assert _same(source, target)


def test_files_without_batchnorm_step_counters_load(tmp_path: Path) -> None:
    source = _trained()
    state = {k: v for k, v in source.state_dict().items() if not k.endswith("num_batches_tracked")}
    save_file(state, str(tmp_path / "w.safetensors"))
    target = _fresh()
    load_weights_into(target, str(tmp_path / "w.safetensors"))
    assert all(torch.equal(v, target.state_dict()[k]) for k, v in state.items())


def test_other_names_in_the_same_order_load_from_torch_files_only(tmp_path: Path) -> None:
    source = _trained()
    renamed = {f"p{i:02d}": v for i, v in enumerate(source.state_dict().values())}
    torch.save(renamed, tmp_path / "w.pth")
    target = _fresh()
    load_weights_into(target, str(tmp_path / "w.pth"))
    assert _same(source, target)
    save_file(renamed, str(tmp_path / "w.safetensors"))
    with pytest.raises(WeightsError, match="not tried for .safetensors"):
        load_weights_into(_fresh(), str(tmp_path / "w.safetensors"))


def test_wrong_architecture_is_a_clear_error(tmp_path: Path) -> None:
    torch.save({"weight": torch.zeros(5, 5)}, tmp_path / "w.pth")
    with pytest.raises(WeightsError, match=r"tensors missing .*Check that the weights are for this architecture"):
        load_weights_into(_fresh(), str(tmp_path / "w.pth"))
