"""Every registered component passes the conformance kit; the kit catches real contract violations."""

from __future__ import annotations

from typing import Literal

import pytest
import torch

from mmfusion import Callback, Classifier, Fusion, FusionConfig, HeadConfig
from mmfusion.interfaces.kinds import CHECKED_KINDS
from mmfusion.registry import get_registry, is_always_on
from mmfusion.testing import parametrize_with_checks, run_checks

#: every registered component the kit checks, but the loop's own callbacks (run by every fit, tested there)
COMPONENTS = [entry.cls for kind in CHECKED_KINDS for entry in get_registry().entries(kind)
              if not (entry.plugin.builtin and is_always_on(kind, entry.cls))]


CALLBACKS = [c for c in COMPONENTS if issubclass(c, Callback)]


@parametrize_with_checks([c for c in COMPONENTS if c not in CALLBACKS])
def test_registered_component_conforms(component, check) -> None:  # type: ignore[no-untyped-def]
    check(component)


@pytest.mark.slow  # the resume check trains tiny models
@parametrize_with_checks(CALLBACKS)
def test_registered_callback_conforms(component, check) -> None:  # type: ignore[no-untyped-def]
    check(component)


class LeakyConfig(FusionConfig):
    type: Literal["leaky"] = "leaky"


class LeakyFusion(Fusion):
    """Ignores the present mask: absent (filler) features reach the output."""

    name = "leaky"
    Config = LeakyConfig

    def __init__(self, config, input_dims):  # type: ignore[no-untyped-def]
        super().__init__(config, input_dims)
        self.proj = torch.nn.ModuleDict({m: torch.nn.Linear(d, 4) for m, d in self.input_dims.items()})
        self.output_dim = 4

    def forward(self, outputs, present):  # type: ignore[no-untyped-def]
        return sum(self.proj[m](outputs[m].pooled) for m in self.modalities)


class LayerNormLeakyConfig(FusionConfig):
    type: Literal["layer_norm_leaky"] = "layer_norm_leaky"


class LayerNormLeakyFusion(Fusion):
    """Normalises each modality's pooled vector, then ignores the present mask: LayerNorm cancels any scaling
    and shift of the filler, so only stand-ins that differ feature by feature expose the leak."""

    name = "layer_norm_leaky"
    Config = LayerNormLeakyConfig

    def __init__(self, config, input_dims):  # type: ignore[no-untyped-def]
        super().__init__(config, input_dims)
        self.norm = torch.nn.ModuleDict({m: torch.nn.LayerNorm(d) for m, d in self.input_dims.items()})
        self.proj = torch.nn.ModuleDict({m: torch.nn.Linear(d, 4) for m, d in self.input_dims.items()})
        self.output_dim = 4

    def forward(self, outputs, present):  # type: ignore[no-untyped-def]
        return sum(self.proj[m](self.norm[m](outputs[m].pooled)) for m in self.modalities)


class WrongDimFusion(LeakyFusion):
    """Declares a width its forward does not produce."""

    def __init__(self, config, input_dims):  # type: ignore[no-untyped-def]
        super().__init__(config, input_dims)
        self.output_dim = 5


def test_kit_reports_a_fusion_that_ignores_present_masks() -> None:
    results = {r.check: r for r in run_checks(LeakyFusion)}
    assert not results["check_fusion_absent_modality_ignored"].passed
    assert "absent modality" in results["check_fusion_absent_modality_ignored"].message
    assert results["check_fusion_output_dims"].passed and results["check_fusion_config"].passed


def test_kit_reports_a_fusion_that_normalises_its_inputs_and_ignores_present_masks() -> None:
    results = {r.check: r for r in run_checks(LayerNormLeakyFusion)}
    assert not results["check_fusion_absent_modality_ignored"].passed
    assert "absent modality" in results["check_fusion_absent_modality_ignored"].message
    assert all(r.passed for name, r in results.items() if name != "check_fusion_absent_modality_ignored")


def test_kit_reports_a_wrong_output_dim() -> None:
    results = {r.check: r for r in run_checks(WrongDimFusion)}
    assert not results["check_fusion_output_dims"].passed
    assert "expected (5, 5)" in results["check_fusion_output_dims"].message


class TwoOrMoreConfig(HeadConfig):
    type: Literal["two_or_more"] = "two_or_more"


class TwoOrMoreHead(Classifier):
    """Gives at least two logits: fine for classes, wrong for a binary task's one logit."""

    name = "two_or_more"
    Config = TwoOrMoreConfig

    def __init__(self, config, input_dim, num_classes):  # type: ignore[no-untyped-def]
        super().__init__(config, input_dim, num_classes)
        self.layer = torch.nn.Linear(input_dim, max(2, num_classes))

    def forward(self, features):  # type: ignore[no-untyped-def]
        return self.layer(features)


def test_kit_checks_every_task_for_heads_and_fusions() -> None:
    results = {r.check: r for r in run_checks(TwoOrMoreHead)}
    assert not results["check_head_tasks"].passed
    assert "binary: TwoOrMoreHead (num_classes=1) gives logits of shape (6, 2), expected (6, 1)" in \
        results["check_head_tasks"].message
    assert results["check_head_output"].passed
    registered = {r.check: r for r in run_checks(get_registry().get("fusion", "late"))}
    assert registered["check_fusion_tasks"].passed  # late fusion outputs the logits itself, one for binary


def test_parametrize_with_checks_rejects_non_components() -> None:
    with pytest.raises(TypeError, match="not an mmfusion"):
        parametrize_with_checks([int])
