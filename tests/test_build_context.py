"""One build context: a custom registry reaches fusions nested inside composite fusions, from spec to training."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytest
import torch
from torch import nn

import mmfusion
from mmfusion import BuildContext, Fusion, FusionConfig, build_fusion, build_model, hookimpl, load_spec
from mmfusion.errors import PluginError, UnknownComponentError
from mmfusion.registry import get_registry, load_registry

from .conftest import write_spec


class PresentMeanConfig(FusionConfig):
    type: Literal["present_mean_test"] = "present_mean_test"
    dim: int = 8


class PresentMeanFusion(Fusion):
    """Projects pooled vectors and averages those of the present modalities (known only to a custom registry)."""

    name = "present_mean_test"
    Config = PresentMeanConfig

    def __init__(self, config, input_dims):  # type: ignore[no-untyped-def]
        super().__init__(config, input_dims)
        self.proj = nn.ModuleDict({m: nn.Linear(d, config.dim) for m, d in self.input_dims.items()})
        self.output_dim = config.dim
        self.uses_tokens = False

    def forward(self, outputs, present):  # type: ignore[no-untyped-def]
        total = count = 0
        for m in self.modalities:
            weight = present[m].unsqueeze(1).to(outputs[m].pooled.dtype)
            total = total + self.proj[m](outputs[m].pooled) * weight
            count = count + weight
        return total / count.clamp(min=1.0)


class _Plugin:
    @hookimpl
    def mmfusion_fusions(self):  # type: ignore[no-untyped-def]
        return [PresentMeanFusion]


@pytest.fixture(scope="module")
def custom():  # type: ignore[no-untyped-def]
    registry = load_registry(autoload=False, extra=[_Plugin()])
    assert "present_mean_test" in registry.names("fusion")
    assert "present_mean_test" not in get_registry().names("fusion")  # the process-wide one lacks it
    return registry


def _model(tiny_bert: Path) -> dict:
    return {"encoders": {"text": {"type": "hf_text", "path": str(tiny_bert), "freeze": True}},
            "fusion": {"type": "missing_modality", "inner": {"type": "present_mean_test", "dim": 6},
                       "modality_dropout": 0.1},
            "head": {"type": "linear"}}


def test_custom_inner_fusion_loads_and_builds_with_the_custom_registry(custom, tiny_bert: Path) -> None:  # type: ignore
    spec = load_spec({"model": _model(tiny_bert)}, registry=custom)
    model = build_model(spec, 3, registry=custom)
    assert type(model.fusion.inner) is PresentMeanFusion and model.fusion.output_dim == 6
    with pytest.raises(Exception, match="present_mean_test"):  # the process-wide registry does not know it
        build_model(spec, 3)


@pytest.mark.slow
def test_fit_trains_a_spec_whose_nested_fusion_only_the_custom_registry_has(custom, tiny_bert: Path,  # type: ignore
                                                                             tmp_path: Path) -> None:
    csv = mmfusion.make_xor_dataset(tmp_path / "data", n=24)
    spec = write_spec(tmp_path, "\n".join([
        "model:",
        "  encoders:",
        f"    text: {{type: hf_text, path: {tiny_bert}, freeze: true}}",
        "  fusion: {type: missing_modality, inner: {type: present_mean_test, dim: 6}}",
        "data:",
        f"  source: {{type: csv, train: {csv}}}",
        "  columns: {text: text}",
        "  split: {validation: 0.25, test: 0.0}",
        f"train: {{epochs: 1, batch_size: 8, cache_dir: {tmp_path / 'cache'}}}",
        ""]))
    result = mmfusion.fit(spec, out=tmp_path / "run", registry=custom)
    assert len(result.history) == 1
    assert (tmp_path / "run" / "weights.safetensors").exists()


def test_composite_fusions_get_the_context_and_other_components_do_not(custom) -> None:  # type: ignore
    seen = {}

    class WithContext(PresentMeanFusion):
        composite = True

        def __init__(self, config, input_dims, *, context: BuildContext):  # type: ignore[no-untyped-def]
            super().__init__(config, input_dims)
            seen["context"] = context
            self.inner = context.build_fusion(config.inner, input_dims)

    class WrapperConfig(FusionConfig):
        type: Literal["wrapper_test"] = "wrapper_test"
        inner: mmfusion.FusionSpec = {"type": "present_mean_test"}  # type: ignore[valid-type]
        dim: int = 4

    WithContext.name, WithContext.Config = "wrapper_test", WrapperConfig  # type: ignore[misc, assignment]

    class _Wrapper:
        @hookimpl
        def mmfusion_fusions(self):  # type: ignore[no-untyped-def]
            return [WithContext]

    registry = load_registry(autoload=False, extra=[_Plugin(), _Wrapper()])
    config = WrapperConfig.model_validate({"inner": {"type": "present_mean_test", "dim": 3}},
                                          context={"registry": registry})
    fusion = build_fusion(config, {"a": 4, "b": 5}, registry=registry)
    context = seen["context"]
    assert context.registry is registry and context.path == "fusion"
    assert type(fusion.inner) is PresentMeanFusion and fusion.inner.output_dim == 3
    # a nested component that fails is named by its spec path under its parent
    bad = WrapperConfig.model_validate({"inner": {"type": "missing_modality", "inner": {"type": "late"}}},
                                       context={"registry": registry})
    with pytest.raises(PluginError, match=r"^fusion\.inner\.inner: fusion 'late' outputs class logits"):
        build_fusion(bad, {"a": 4}, registry=registry)
    # a fusion that builds no nested parts is constructed exactly as before
    assert type(build_fusion(PresentMeanConfig(), {"a": 4}, registry=registry)) is PresentMeanFusion


def test_missing_modality_needs_a_context_and_never_falls_back_to_the_global_registry(custom) -> None:  # type: ignore
    from mmfusion.default_plugins.missing_modality import MissingModalityConfig, MissingModalityFusion

    config = MissingModalityConfig.model_validate({"inner": {"type": "present_mean_test"}},
                                                  context={"registry": custom})
    with pytest.raises(TypeError, match="context"):
        MissingModalityFusion(config, {"a": 4})  # type: ignore[call-arg]
    with pytest.raises(UnknownComponentError, match="present_mean_test"):
        MissingModalityFusion(config, {"a": 4}, context=BuildContext(get_registry()))
    fusion = MissingModalityFusion(config, {"a": 4}, context=BuildContext(custom))
    assert type(fusion.inner) is PresentMeanFusion
    out = fusion({"a": mmfusion.EncoderOutput(torch.randn(2, 4))}, {"a": torch.tensor([True, False])})
    assert out.shape == (2, 8)


def test_build_context_is_public_and_frozen() -> None:
    assert "BuildContext" in mmfusion.__all__
    context = BuildContext(get_registry(), path="model.fusion", num_classes=3)
    with pytest.raises(AttributeError):
        context.path = "elsewhere"  # type: ignore[misc]
