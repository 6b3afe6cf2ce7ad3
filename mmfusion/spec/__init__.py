"""The YAML spec: pydantic models whose component configs are resolved through the plugin registry."""

from .components import CallbackSpec, EncoderSpec, FusionSpec, HeadSpec, LoggerSpec, LossSpec
from .loader import load_spec, spec_to_yaml
from .model_spec import ModelSpec
from .schema import spec_json_schema
from .spec import Spec

__all__ = [
    "CallbackSpec", "EncoderSpec", "FusionSpec", "HeadSpec", "LoggerSpec", "LossSpec", "ModelSpec", "Spec",
    "load_spec", "spec_json_schema", "spec_to_yaml",
]
