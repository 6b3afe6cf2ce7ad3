"""Pydantic base classes for component configs (encoders, fusions, heads, datasets, losses, loggers, callbacks).

A component's ``Config`` is a frozen pydantic model that forbids unknown keys and whose ``type``
field is a ``Literal`` equal to the component's ``name``. The spec picks the config class by
``type`` through the plugin registry, so any installed plugin's config validates like a built-in's.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_serializer

from .locations import SpecLocation


class ComponentConfig(BaseModel):
    """Base of every component config: frozen, no unknown keys, discriminated by ``type``."""

    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    type: str = Field(description="Name of the component (its registry name, or 'distribution:name').")
    # 'distribution:name' when the spec named the component that way (to pick one of two plugins)
    _qualified_type: str | None = PrivateAttr(default=None)

    @property
    def component_name(self) -> str:
        """The name to look the component up by: qualified if the spec qualified it."""
        return self._qualified_type or self.type

    @field_serializer("type")
    def _keep_qualification(self, value: str) -> str:
        return self._qualified_type or value


class EncoderConfig(ComponentConfig):
    """Options shared by all encoders."""

    freeze: bool = Field(
        False,
        description="Keep the encoder's weights fixed (eval mode, no gradients). Frozen encoders' outputs "
        "can be cached during training.",
    )
    weights: SpecLocation | None = Field(
        None,
        description="Weights to load: a local file or folder, or 'package:pkg/relative/path' inside an "
        "installed Python package. Never downloaded.",
    )


class FusionConfig(ComponentConfig):
    """Base of fusion configs."""


class HeadConfig(ComponentConfig):
    """Base of classifier-head configs."""


class DatasetConfig(ComponentConfig):
    """Base of dataset-source configs."""


class LossConfig(ComponentConfig):
    """Base of loss configs (``train.loss``)."""


class LoggerConfig(ComponentConfig):
    """Base of metrics-logger configs (``train.loggers``)."""


class CallbackConfig(ComponentConfig):
    """Base of training-callback configs (``train.callbacks``)."""
