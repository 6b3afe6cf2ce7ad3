"""mmfusion: multimodal classification with swappable encoder, fusion and head plugins.

The public API is imported lazily so that ``import mmfusion`` (and the ``mmfusion`` command) start
without importing torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .hookspecs import hookimpl

__version__ = "0.1.0"

#: module → the public names it provides
_MODULES: dict[str, tuple[str, ...]] = {
    "mmfusion.interfaces.config": ("ComponentConfig", "EncoderConfig", "FusionConfig", "HeadConfig", "DatasetConfig",
        "LossConfig", "LoggerConfig", "CallbackConfig"),
    "mmfusion.interfaces.encoder": ("Encoder", "EncoderOutput"),
    "mmfusion.interfaces.image_encoder": ("ImageEncoder", "ImageEncoderConfig"),
    "mmfusion.interfaces.fusion": ("Fusion",),
    "mmfusion.interfaces.classifier": ("Classifier",),
    "mmfusion.interfaces.modality": ("Modality", "CellContext", "BadValueError", "is_empty_cell"),
    "mmfusion.interfaces.corruption": ("Corruption",),
    "mmfusion.interfaces.dataset": ("DatasetSource", "DatasetTables"),
    "mmfusion.interfaces.loss": ("Loss",),
    "mmfusion.interfaces.logger": ("Logger",),
    "mmfusion.interfaces.callback": ("Callback", "FitState"),
    "mmfusion.registry": ("Registry", "get_registry", "load_registry"),
    "mmfusion.spec": ("Spec", "ModelSpec", "EncoderSpec", "FusionSpec", "HeadSpec", "LossSpec", "LoggerSpec",
        "CallbackSpec", "load_spec", "spec_json_schema"),
    "mmfusion.model.multimodal": ("MultimodalModel",),
    "mmfusion.model.batch": ("Batch",),
    "mmfusion.model.featurizer": ("make_batch",),
    "mmfusion.model.builder": ("build_model", "build_fusion", "BuildContext"),
    "mmfusion.model.forward_check": ("check_forward",),
    "mmfusion.api": ("fit", "evaluate", "tune", "Predictor", "Prediction", "FitResult", "EvaluationReport",
        "TuneResult"),
    "mmfusion.training.context": ("TrainingInterrupted",),
    "mmfusion.run.load": ("load_run",),
    "mmfusion.testing.data": ("make_xor_dataset", "make_multilabel_dataset"),
    "mmfusion.errors": ("MMFusionError", "SpecError", "PluginError", "WeightsError", "DataError"),
}
_EXPORTS: dict[str, str] = {name: module for module, names in _MODULES.items() for name in names}

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
