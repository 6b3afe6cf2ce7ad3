"""The YAML spec: pydantic models whose component configs are resolved through the plugin registry."""

from .components import DatasetSpec, EncoderSpec, FusionSpec, HeadSpec
from .loader import load_spec, spec_to_yaml, validate_spec
from .model_spec import ModelSpec
from .schema import spec_json_schema
from .spec import Spec

__all__ = [
    "DatasetSpec",
    "EncoderSpec",
    "FusionSpec",
    "HeadSpec",
    "ModelSpec",
    "Spec",
    "load_spec",
    "spec_json_schema",
    "spec_to_yaml",
    "validate_spec",
]
