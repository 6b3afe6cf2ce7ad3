"""mmfusion: multimodal classification with swappable encoder, fusion and head plugins.

The public API is imported lazily so that ``import mmfusion`` (and the ``mmfusion`` command) start
without importing torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .hookspecs import hookimpl

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    # interfaces
    "ComponentConfig": "mmfusion.interfaces.config",
    "EncoderConfig": "mmfusion.interfaces.config",
    "FusionConfig": "mmfusion.interfaces.config",
    "HeadConfig": "mmfusion.interfaces.config",
    "DatasetConfig": "mmfusion.interfaces.config",
    "LossConfig": "mmfusion.interfaces.config",
    "LoggerConfig": "mmfusion.interfaces.config",
    "CallbackConfig": "mmfusion.interfaces.config",
    "Encoder": "mmfusion.interfaces.encoder",
    "ImageEncoder": "mmfusion.interfaces.image_encoder",
    "ImageEncoderConfig": "mmfusion.interfaces.image_encoder",
    "EncoderOutput": "mmfusion.interfaces.encoder",
    "Fusion": "mmfusion.interfaces.fusion",
    "Classifier": "mmfusion.interfaces.classifier",
    "Modality": "mmfusion.interfaces.modality",
    "CellContext": "mmfusion.interfaces.modality",
    "BadValueError": "mmfusion.interfaces.modality",
    "is_empty_cell": "mmfusion.interfaces.modality",
    "Corruption": "mmfusion.interfaces.corruption",
    "DatasetSource": "mmfusion.interfaces.dataset",
    "DatasetTables": "mmfusion.interfaces.dataset",
    "Loss": "mmfusion.interfaces.loss",
    "Logger": "mmfusion.interfaces.logger",
    "Callback": "mmfusion.interfaces.callback",
    "FitState": "mmfusion.interfaces.callback",
    # plugins and registry
    "Registry": "mmfusion.registry",
    "get_registry": "mmfusion.registry",
    "load_registry": "mmfusion.registry",
    # spec and model
    "Spec": "mmfusion.spec",
    "ModelSpec": "mmfusion.spec",
    "EncoderSpec": "mmfusion.spec",
    "FusionSpec": "mmfusion.spec",
    "HeadSpec": "mmfusion.spec",
    "LossSpec": "mmfusion.spec",
    "LoggerSpec": "mmfusion.spec",
    "CallbackSpec": "mmfusion.spec",
    "load_spec": "mmfusion.spec",
    "spec_json_schema": "mmfusion.spec",
    "MultimodalModel": "mmfusion.model.multimodal",
    "Batch": "mmfusion.model.batch",
    "make_batch": "mmfusion.model.featurizer",
    "build_model": "mmfusion.model.builder",
    "build_fusion": "mmfusion.model.builder",
    "BuildContext": "mmfusion.model.builder",
    "check_forward": "mmfusion.model.forward_check",
    # workflow
    "fit": "mmfusion.api",
    "evaluate": "mmfusion.api",
    "Predictor": "mmfusion.api",
    "Prediction": "mmfusion.api",
    "FitResult": "mmfusion.api",
    "TrainingInterrupted": "mmfusion.training.context",
    "EvaluationReport": "mmfusion.api",
    "load_run": "mmfusion.run.load",
    "make_xor_dataset": "mmfusion.testing.data",
    "make_multilabel_dataset": "mmfusion.testing.data",
    # errors
    "MMFusionError": "mmfusion.errors",
    "SpecError": "mmfusion.errors",
    "PluginError": "mmfusion.errors",
    "WeightsError": "mmfusion.errors",
    "DataError": "mmfusion.errors",
}

__all__ = ["__version__", "hookimpl", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'mmfusion' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # pragma: no cover
    from .api import EvaluationReport, FitResult, Prediction, Predictor, evaluate, fit
    from .errors import DataError, MMFusionError, PluginError, SpecError, WeightsError
    from .interfaces.callback import Callback, FitState
    from .interfaces.classifier import Classifier
    from .interfaces.config import (
        CallbackConfig,
        ComponentConfig,
        DatasetConfig,
        EncoderConfig,
        FusionConfig,
        HeadConfig,
        LoggerConfig,
        LossConfig,
    )
    from .interfaces.corruption import Corruption
    from .interfaces.dataset import DatasetSource, DatasetTables
    from .interfaces.encoder import Encoder, EncoderOutput
    from .interfaces.fusion import Fusion
    from .interfaces.image_encoder import ImageEncoder, ImageEncoderConfig
    from .interfaces.logger import Logger
    from .interfaces.loss import Loss
    from .interfaces.modality import BadValueError, CellContext, Modality, is_empty_cell
    from .model.batch import Batch
    from .model.builder import BuildContext, build_fusion, build_model
    from .model.featurizer import make_batch
    from .model.forward_check import check_forward
    from .model.multimodal import MultimodalModel
    from .registry import Registry, get_registry, load_registry
    from .run.load import load_run
    from .spec import (
        CallbackSpec,
        EncoderSpec,
        FusionSpec,
        HeadSpec,
        LoggerSpec,
        LossSpec,
        ModelSpec,
        Spec,
        load_spec,
        spec_json_schema,
    )
    from .testing.data import make_multilabel_dataset, make_xor_dataset
    from .training.context import TrainingInterrupted
