"""Assembling a :class:`MultimodalModel` from a validated spec through the registry.

The registry travels as an argument: the builder hands each composite fusion (``Fusion.composite``: one
that wraps an inner fusion) a :class:`BuildContext` as its ``context`` keyword, and it builds its nested parts
through it, never through the process-wide registry.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, cast

from pydantic import BaseModel
from torch import Tensor

from ..errors import MMFusionError, PluginError, SpecError
from ..interfaces.classifier import Classifier
from ..interfaces.config import EncoderConfig, FusionConfig, HeadConfig
from ..interfaces.encoder import Encoder
from ..interfaces.fusion import Fusion
from ..registry import Registry, get_registry
from ..spec.balance_spec import QualityGateSpec
from ..spec.model_spec import ModelSpec
from ..spec.spec import Spec
from ..weights.loading import load_configured_weights
from .build_checks import failure_message, memory_problem
from .multimodal import MultimodalModel
from .peft import apply_peft
from .quality_gate import QualityGate
from .unimodal import UnimodalHeads


@dataclass(frozen=True)
class BuildContext:
    """Where nested components come from (the ``registry`` the spec was validated against) and where the component
    being built sits in the spec: its ``path`` (``model.fusion``, named in errors), its ``config``, and the model's
    ``num_classes`` where relevant (the top-level fusion and the head)."""

    registry: Registry
    path: str = "model"
    num_classes: int | None = None
    config: BaseModel | None = field(default=None, repr=False, compare=False)

    def build_fusion(self, config: FusionConfig, input_dims: Mapping[str, int], *,
                     num_classes: int | None = None) -> Fusion:
        """Build a fusion nested in the component being built from this registry: ``config`` is a field of the
        component's own config (``config.inner``), ``num_classes`` only for a nested fusion that outputs logits.

        Raises:
            PluginError: it cannot be built; the message names its spec path, e.g. ``model.fusion.inner``.
        """
        fields = type(self.config).model_fields if self.config is not None else {}
        name = next((f for f in fields if getattr(self.config, f, None) is config), None)  # its path: ours + field
        path = f"{self.path}.{name}" if name else f"{self.path} (nested)"
        return _build_fusion(replace(self, path=path, num_classes=num_classes, config=config), input_dims)


def instantiate(cls: type, *args: Any, context: BuildContext) -> Any:
    """``cls(*args)``, plus ``context=`` for a composite fusion (also used by the conformance kit)."""
    return cls(*args, context=context) if getattr(cls, "composite", False) else cls(*args)


def _construct(context: BuildContext, cls: type, *args: Any) -> Any:
    """Build one component; any failure names its spec path and type (and the sizes to check)."""
    config = context.config
    where = f"{context.path} ({getattr(config, 'type', '?')})"
    factory: Callable[..., Any] = functools.partial(instantiate, cls, context=context)
    try:
        if config is not None:
            problem = memory_problem(config, factory, args)
            if problem is not None:
                raise PluginError(f"{where}: {problem}")
        return factory(*args)
    except MMFusionError:
        raise
    except Exception as exc:  # a plugin's bug, a library error or settings it cannot meet: say which component
        raise PluginError(f"{where}: {failure_message(exc, config or {})}") from exc


def build_fusion(config: FusionConfig, input_dims: Mapping[str, int], *, num_classes: int | None = None,
                 registry: Registry | None = None) -> Fusion:
    """Instantiate one fusion from its config, on its own (a notebook, a test), from ``registry`` (default: the
    process-wide registry). A composite fusion builds its inner fusion with ``context.build_fusion`` instead.

    Raises:
        PluginError: the fusion outputs logits (late fusion) but no ``num_classes`` was given, e.g.
            when it is wrapped by another fusion; or it cannot be built (its spec path named).
    """
    top = BuildContext(registry or get_registry(), path="fusion", num_classes=num_classes, config=config)
    return _build_fusion(top, input_dims)


def _build_fusion(context: BuildContext, input_dims: Mapping[str, int]) -> Fusion:
    """Build the fusion whose config and spec path ``context`` holds."""
    config = cast(FusionConfig, context.config)  # set by our own callers
    cls = context.registry.get("fusion", config.component_name)
    if getattr(cls, "produces_logits", False):
        if context.num_classes is None:
            raise PluginError(f"{context.path}: fusion '{config.type}' outputs class logits itself; it cannot sit "
                              "inside another fusion")
        return _construct(context, cls, config, input_dims, context.num_classes)
    return _construct(context, cls, config, input_dims)


def _build_encoder(context: BuildContext) -> Encoder:
    """Build one encoder, then load its config's ``weights:`` unless it loaded them itself, then freeze it or adapt
    it (``peft:``, on the loaded weights)."""
    config = cast(EncoderConfig, context.config)  # set by build_model
    cls = context.registry.get("encoder", config.component_name)
    encoder: Encoder = _construct(context, cls, config)
    try:
        load_configured_weights(encoder, what=f"{context.path}.weights")
    except MMFusionError:
        raise
    except Exception as exc:
        raise PluginError(f"{context.path} ({config.type}): loading its weights failed: "
                          f"{type(exc).__name__}: {exc}") from exc
    encoder.set_frozen(config.freeze)
    options = getattr(config, "peft", None)
    if options is not None:
        try:
            apply_peft(encoder, options, path=f"{context.path}.peft")
        except MMFusionError:
            raise
        except Exception as exc:
            raise PluginError(f"{context.path}.peft ({config.type}): adapting the encoder failed: "
                              f"{type(exc).__name__}: {exc}") from exc
    return encoder


def build_encoder(config: EncoderConfig, *, registry: Registry | None = None,
                  path: str = "model.encoders") -> Encoder:
    """One encoder as :func:`build_model` builds it: weights loaded, frozen or adapted as configured; ``path`` (its
    spec path) is named in errors. A run rebuilds the frozen encoders (and the bases of adapted ones) it saved by
    reference this way (:mod:`mmfusion.run.frozen`).

    Raises:
        PluginError: it cannot be built (its spec path named).
        WeightsError: its weights cannot be loaded.
    """
    return _build_encoder(BuildContext(registry or get_registry(), path=path, config=config))


class FusionLogits(Classifier):
    """Stands in for the head when the fusion already outputs class logits (late fusion)."""

    name = "none"
    Config = HeadConfig

    def forward(self, features: Tensor) -> Tensor:
        return features


def build_model(spec: Spec | ModelSpec, num_classes: int, *, registry: Registry | None = None) -> MultimodalModel:
    """Instantiate encoders, fusion and head from a spec or its ``model`` section (and, from a whole spec with
    ``train.aux_unimodal``, unimodal heads). ``num_classes``: one per label, or 1 for a binary task. Pass the
    ``registry`` the spec was loaded with (default: the process-wide registry).

    Raises:
        PluginError: a component could not be built (the message names it).
        WeightsError: requested weights are not available offline.
    """
    model_spec = spec.model if isinstance(spec, Spec) else spec
    root = BuildContext(registry or get_registry(), path="model", num_classes=num_classes)
    if num_classes < 1:
        raise MMFusionError(f"a classifier needs at least 1 output (binary: 1, otherwise one per label), got "
                            f"{num_classes}")
    encoders = {
        modality: _build_encoder(replace(root, path=f"model.encoders.{modality}", num_classes=None, config=config))
        for modality, config in model_spec.encoders.items()
    }
    input_dims = {m: enc.output_dim for m, enc in encoders.items()}
    fusion = _build_fusion(replace(root, path="model.fusion", config=model_spec.fusion), input_dims)
    if getattr(fusion, "produces_logits", False):
        if model_spec.head is not None:
            raise SpecError(f"model.head: fusion '{model_spec.fusion.type}' outputs class logits itself; "
                            "remove the `head:` section")
        head: Classifier = FusionLogits(HeadConfig(type="none"), fusion.output_dim, num_classes)
    else:
        head_config = model_spec.head or root.registry.get("head", "linear").Config()  # the default head
        head_cls = root.registry.get("head", head_config.component_name)
        head = _construct(replace(root, path="model.head", config=head_config), head_cls, head_config,
                          fusion.output_dim, num_classes)
    aux_spec = spec.train.aux_unimodal if isinstance(spec, Spec) else None
    aux = (UnimodalHeads(input_dims, num_classes, mixture=aux_spec.inference == "mixture",
                         dynamic=aux_spec.inference == "dynamic") if aux_spec is not None else None)
    wants_gate = isinstance(spec, Spec) and isinstance(spec.train.quality_gate, QualityGateSpec)
    gate = QualityGate(input_dims) if wants_gate else None
    return MultimodalModel(encoders, fusion, head, aux, gate)
