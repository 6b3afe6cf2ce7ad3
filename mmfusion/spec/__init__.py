"""The YAML spec: pydantic models whose component configs are resolved through the plugin registry."""

from .components import CallbackSpec, DatasetSpec, EncoderSpec, FusionSpec, HeadSpec, LoggerSpec, LossSpec
from .data_spec import DataSpec, RowLimits, SplitSpec
from .loader import load_spec, spec_to_yaml, validate_spec
from .model_spec import ModelSpec
from .schema import spec_json_schema
from .spec import Spec
from .train_spec import EarlyStoppingSpec, TrainSpec

__all__ = [
    "CallbackSpec", "DataSpec", "DatasetSpec", "EarlyStoppingSpec", "RowLimits", "SplitSpec", "TrainSpec",
    "EncoderSpec", "FusionSpec", "HeadSpec", "LoggerSpec", "LossSpec", "ModelSpec", "Spec", "load_spec",
    "spec_json_schema", "spec_to_yaml", "validate_spec",
]
