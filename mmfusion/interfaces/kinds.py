"""Every kind of component in one table: the hook that provides it, the interface it subclasses and the base of its
spec config. The registry, the spec's component fields and the ``plugins`` command all read this table.

Interfaces are named as ``module:Class`` and imported when first needed: several import torch, and listing plugins
must not.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class ComponentKind:
    """One kind of component (encoder, fusion, ...) and what a component of it must be."""

    name: str
    #: the hook of :mod:`mmfusion.hookspecs` that returns the kind's classes
    hook: str
    #: ``module:Class`` of the interface every component subclasses
    base: str
    #: ``module:Class`` of the base of the component's ``Config`` (None: components have no spec config)
    config: str | None = None
    #: components name the modality they consume (``modality`` class attribute)
    needs_modality: bool = False
    #: a component without a ``Config`` is valid: no spec names it, every run uses it (the loop's own callbacks)
    always_on_without_config: bool = False
    #: the conformance kit (:mod:`mmfusion.testing`, ``plugins --check``) has checks for this kind
    checked: bool = False

    def base_class(self) -> type:
        return _load(self.base)

    def config_class(self) -> type | None:
        return _load(self.config) if self.config else None


def _load(target: str) -> type:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


_CONFIG = "mmfusion.interfaces.config"

#: every component kind, by name, in the order ``mmfusion plugins`` lists them
KINDS: dict[str, ComponentKind] = {kind.name: kind for kind in (
    ComponentKind("modality", "mmfusion_modalities", "mmfusion.interfaces.modality:Modality"),
    ComponentKind("encoder", "mmfusion_encoders", "mmfusion.interfaces.encoder:Encoder", f"{_CONFIG}:EncoderConfig",
                  needs_modality=True, checked=True),
    ComponentKind("fusion", "mmfusion_fusions", "mmfusion.interfaces.fusion:Fusion", f"{_CONFIG}:FusionConfig",
                  checked=True),
    ComponentKind("head", "mmfusion_heads", "mmfusion.interfaces.classifier:Classifier", f"{_CONFIG}:HeadConfig",
                  checked=True),
    ComponentKind("dataset", "mmfusion_datasets", "mmfusion.interfaces.dataset:DatasetSource",
                  f"{_CONFIG}:DatasetConfig"),
    ComponentKind("corruption", "mmfusion_corruptions", "mmfusion.interfaces.corruption:Corruption",
                  needs_modality=True),
    ComponentKind("loss", "mmfusion_losses", "mmfusion.interfaces.loss:Loss", f"{_CONFIG}:LossConfig", checked=True),
    ComponentKind("logger", "mmfusion_loggers", "mmfusion.interfaces.logger:Logger", f"{_CONFIG}:LoggerConfig",
                  checked=True),
    ComponentKind("callback", "mmfusion_callbacks", "mmfusion.interfaces.callback:Callback",
                  f"{_CONFIG}:CallbackConfig", always_on_without_config=True, checked=True),
)}
#: the kinds the conformance kit checks, in the order ``plugins --check`` runs them
CHECKED_KINDS: tuple[str, ...] = tuple(name for name, kind in KINDS.items() if kind.checked)
