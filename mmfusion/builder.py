"""Assembling a :class:`MultimodalModel` from a validated spec through the registry."""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar

from pydantic import BaseModel
from torch import Tensor

from .build_checks import failure_message, memory_problem
from .errors import MMFusionError, PluginError, SpecError
from .interfaces.classifier import Classifier
from .interfaces.config import FusionConfig, HeadConfig
from .interfaces.fusion import Fusion
from .model import MultimodalModel
from .registry import Registry, get_registry
from .spec.model_spec import ModelSpec
from .spec.spec import Spec

_BUILDING: ContextVar[tuple[str, BaseModel] | None] = ContextVar("mmfusion_building", default=None)
"""The spec path and config of the component being built, so that a nested fusion is named by its path."""


def _construct(path: str, config: BaseModel, factory, *args):  # type: ignore[no-untyped-def]
    """Build one component; any failure names its spec path and type (and the sizes to check)."""
    where = f"{path} ({getattr(config, 'type', '?')})"
    token = _BUILDING.set((path, config))
    try:
        problem = memory_problem(config, factory, args)
        if problem is not None:
            raise PluginError(f"{where}: {problem}")
        return factory(*args)
    except MMFusionError:
        raise
    except Exception as exc:  # a plugin's bug, a library error or settings it cannot meet: say which component
        raise PluginError(f"{where}: {failure_message(exc, config)}") from exc
    finally:
        _BUILDING.reset(token)


def _nested_path(config: BaseModel) -> str:
    """``model.fusion.inner`` for a fusion built by the component being built; ``fusion`` at the top."""
    parent = _BUILDING.get()
    if parent is None:
        return "fusion"
    path, parent_config = parent
    for name in type(parent_config).model_fields:
        if getattr(parent_config, name, None) is config:
            return f"{path}.{name}"
    return f"{path} (inner fusion)"


def build_fusion(config: FusionConfig, input_dims: Mapping[str, int], *, num_classes: int | None = None,
                 registry: Registry | None = None) -> Fusion:
    """Instantiate one fusion from its config; composite fusions use this to build their inner fusion.

    Raises:
        PluginError: the fusion outputs logits (late fusion) but no ``num_classes`` was given, e.g.
            when it is wrapped by another fusion; or it cannot be built (its spec path named).
    """
    return _build_fusion(_nested_path(config), config, input_dims, num_classes, registry)


def _build_fusion(path: str, config: FusionConfig, input_dims: Mapping[str, int], num_classes: int | None,
                  registry: Registry | None) -> Fusion:
    cls = (registry or get_registry()).get("fusion", config.component_name)
    if getattr(cls, "produces_logits", False):
        if num_classes is None:
            raise PluginError(f"{path}: fusion '{config.type}' outputs class logits itself; it cannot sit "
                              "inside another fusion")
        return _construct(path, config, cls, config, input_dims, num_classes)
    return _construct(path, config, cls, config, input_dims)


class FusionLogits(Classifier):
    """Stands in for the head when the fusion already outputs class logits (late fusion)."""

    name = "none"
    Config = HeadConfig

    def forward(self, features: Tensor) -> Tensor:
        return features


def build_model(spec: Spec | ModelSpec, num_classes: int, *, registry: Registry | None = None) -> MultimodalModel:
    """Instantiate encoders, fusion and head from a spec.

    Args:
        spec: a whole spec or its ``model`` section.
        num_classes: number of labels the head predicts.
        registry: where component classes are looked up (default: the process-wide registry).

    Raises:
        PluginError: a component could not be built (the message names it).
        WeightsError: requested weights are not available offline.
    """
    model_spec = spec.model if isinstance(spec, Spec) else spec
    registry = registry or get_registry()
    if num_classes < 2:
        raise MMFusionError(f"a classifier needs at least 2 classes, got {num_classes}")
    encoders = {}
    for modality, config in model_spec.encoders.items():
        cls = registry.get("encoder", config.component_name)
        encoder = _construct(f"model.encoders.{modality}", config, cls, config)
        encoder.set_frozen(config.freeze)
        encoders[modality] = encoder
    input_dims = {m: enc.output_dim for m, enc in encoders.items()}
    fusion = _build_fusion("model.fusion", model_spec.fusion, input_dims, num_classes, registry)
    if getattr(fusion, "produces_logits", False):
        if model_spec.head is not None:
            raise SpecError(f"model.head: fusion '{model_spec.fusion.type}' outputs class logits itself; "
                            "remove the `head:` section")
        head: Classifier = FusionLogits(HeadConfig(type="none"), fusion.output_dim, num_classes)
    else:
        head_config = model_spec.head or registry.get("head", "linear").Config()  # the default head
        head_cls = registry.get("head", head_config.component_name)
        head = _construct("model.head", head_config, head_cls, head_config, fusion.output_dim, num_classes)
    return MultimodalModel(encoders, fusion, head)
