"""An error is the plugin's when its code is on the traceback: the innermost plugin frame gives file and line, the
innermost ``self`` that is one of the plugin's components its kind and name; mmfusion's own errors stay ours."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mmfusion.blame import find_culprit, plugin_error, plugin_errors_named
from mmfusion.errors import PluginError, SpecError
from mmfusion.registry import load_registry

from .plugin_fixtures import make_distribution

SOURCE = '''
from typing import Literal
import torch
from mmfusion import Classifier, HeadConfig, hookimpl

class ShapelessConfig(HeadConfig):
    type: Literal["shapeless"] = "shapeless"

def helper(x):
    return torch.nn.functional.linear(x, torch.zeros(3, 7))  # a width mismatch raised inside torch

class Shapeless(Classifier):
    name = "shapeless"
    Config = ShapelessConfig
    def forward(self, features):
        return helper(features)

@hookimpl
def mmfusion_heads():
    return [Shapeless]
'''


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    make_distribution(tmp_path, "mmfusion-shapeless", {"shapeless_head": SOURCE}, {"shapeless": "shapeless_head"},
                      version="2.0")
    monkeypatch.syspath_prepend(str(tmp_path))
    return load_registry(autoload=True)


def _raised(registry) -> BaseException:  # type: ignore[no-untyped-def]
    cls = registry.get("head", "shapeless")
    head = cls(cls.Config(), 4, 2)
    with pytest.raises(RuntimeError) as info:
        head(torch.zeros(2, 4))
    return info.value


def test_an_error_raised_in_torch_from_a_plugin_names_the_component_and_its_line(registry, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    error = _raised(registry)
    culprit = find_culprit(error, registry)
    assert culprit is not None and culprit.component is not None
    assert (culprit.component.kind, culprit.component.name) == ("head", "shapeless")
    assert culprit.filename == str(tmp_path / "shapeless_head.py")
    assert culprit.line == 10  # the helper's line, the innermost frame in the plugin
    named = plugin_error(error, registry)
    assert isinstance(named, PluginError)
    assert str(named).startswith("head 'shapeless' from mmfusion-shapeless 2.0 raised RuntimeError: ")
    assert f"at {tmp_path / 'shapeless_head.py'}:10: a problem in the plugin" in str(named)


def test_errors_of_mmfusion_itself_are_not_blamed_on_plugins(registry) -> None:  # type: ignore[no-untyped-def]
    try:
        torch.zeros(2, 3) @ torch.zeros(4, 5)
    except RuntimeError as exc:
        assert find_culprit(exc, registry) is None
    assert plugin_error(SpecError("spec.yaml:3: bad"), registry) is None  # ours, already clear


def test_the_context_manager_chains_the_original(registry) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PluginError) as info, plugin_errors_named(registry):
        raise _raised(registry)
    assert isinstance(info.value.__cause__, RuntimeError)
