"""Loading a run directory (:mod:`.layout`) back into a model, every file checked against the others."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import MMFusionError
from ..tasks.definitions import uses_thresholds
from .errors import RESTORE, RunDirError
from .files import (
    read_inputs,
    read_labels,
    read_preprocessing,
    read_summary,
    read_temperature,
    read_thresholds,
    read_weights,
)
from .frozen import referenced_tensors
from .layout import RunPaths

if TYPE_CHECKING:
    import torch

    from ..model.multimodal import MultimodalModel
    from ..registry import Registry
    from ..spec.spec import Spec


@dataclass
class LoadedRun:
    """A trained model with its spec and labels, ready for evaluation or prediction. ``task`` is the spec's
    ``data.task``; ``thresholds`` the decision thresholds of multilabel and binary runs in output order, else None;
    ``temperature`` a calibrated run's temperatures (``train.calibration``: one, or one per output), else None."""

    paths: RunPaths
    spec: Spec
    labels: list[str]
    model: MultimodalModel
    summary: dict[str, Any]
    inputs: dict[str, Any]
    task: str
    thresholds: list[float] | None = None
    temperature: list[float] | None = None

    @property
    def label_sep(self) -> str | None:
        return self.spec.data.label_sep if self.spec.data is not None else None

    @property
    def positive_label(self) -> str | None:
        return self.labels[1] if self.task == "binary" else None


def load_run(run_dir: str | Path, *, device: str | torch.device = "cpu", registry: Registry | None = None
             ) -> LoadedRun:
    """Rebuild the model of a run directory and load its best weights (safetensors, no pickle).

    Every file is checked against the others before anything is predicted: labels.json must list as many distinct names
    as the weights have classes, the weights must fit spec.yaml's model tensor by tensor, and frozen encoders saved by
    reference are rebuilt and must have their recorded digest. A damaged summary.json is only a warning.

    Raises:
        RunDirError: the folder is not a finished run, or one of its files is damaged or does not fit the
            others, or the frozen weights it refers to cannot be loaded here (the message says what to do).
    """
    from ..spec.loader import load_spec

    paths = RunPaths(Path(run_dir))
    _check_folder(paths)
    spec = load_spec(paths.spec, registry=registry)
    labels = read_labels(paths.labels)
    task = spec.data.task if spec.data is not None else None
    if task is None:
        raise RunDirError(f"{paths.spec} names no data.task, but training records the task there: it is not the "
                          f"spec of a finished run; {RESTORE}")
    if task == "binary" and len(labels) != 2:
        raise RunDirError(f"{paths.labels} lists {len(labels)} labels, but the run is binary (data.task in "
                          f"{paths.spec.name}): it should list the negative and the positive label; {RESTORE}")
    weights = read_weights(paths.weights)
    weights.update(referenced_tensors(paths.weights, spec, weights, registry))
    modalities = sorted(spec.model.encoders)
    learned = read_preprocessing(paths.preprocessing, modalities)
    model = _fitting_model(_architecture_only(spec), labels, weights, learned, paths, registry, task)
    model.load_state_dict(weights)  # every key and shape checked above
    model.eval().to(device)
    inputs = read_inputs(paths.inputs, modalities)
    thresholds = read_thresholds(paths.thresholds, task, labels) if uses_thresholds(task) else None
    temperature = read_temperature(paths.calibration, task, labels) if spec.train.calibration else None
    return LoadedRun(paths, spec, labels, model, read_summary(paths.summary), inputs, task, thresholds, temperature)


def _check_folder(paths: RunPaths) -> None:
    root = paths.root
    if not root.exists():
        raise RunDirError(f"run directory {root} does not exist")
    if not root.is_dir():
        raise RunDirError(f"{root} is a file, not a run directory (the folder `mmfusion train` writes, with "
                            "spec.yaml, labels.json and weights.safetensors)")
    for required in (paths.spec, paths.labels):
        if not required.exists():
            raise RunDirError(f"{root} is not a run directory: {required.name} is missing")
    if not paths.weights.exists():
        raise RunDirError(f"{root} is an unfinished run: weights.safetensors is missing (training writes it after its "
                          "first epoch): wait for it, or continue a stopped run with `mmfusion train SPEC --out RUN "
                          "--resume`")


def _fitting_model(spec: Spec, labels: list[str], weights: dict[str, torch.Tensor],
                   learned: dict[str, dict[str, Any]], paths: RunPaths, registry: Registry | None,
                   task: str) -> MultimodalModel:
    """The spec's model for ``len(labels)`` classes (one output for binary), every tensor shaped as in the weights.
    When the shapes differ only where the class count shows, labels.json is the culprit; otherwise the spec."""
    binary, asked = task == "binary", len(labels)
    probe = 1 if binary else max(asked, 2)  # a classifier has at least 2 classes: build one to see the weights
    model = _build(spec, probe, learned, paths, registry)
    problems = _mismatches(model.state_dict(), weights)
    if not problems and (binary or asked == probe):
        return model
    trained: int | None = probe if not problems else None
    for count in _class_counts(model.state_dict(), weights, probe)[:3] if problems and not binary else ():
        if not _mismatches(_build(spec, count, learned, paths, registry).state_dict(), weights):
            trained = count
            break
    listed = f"{paths.labels} lists {asked} label{'s' if asked != 1 else ''}"
    if trained is not None:
        raise RunDirError(f"{listed} but the weights were trained for {trained} classes; restore the labels.json "
                          "written with these weights (class names in output order), or retrain")
    if asked < 2:
        raise RunDirError(f"{listed}; a classifier has at least 2 classes; {RESTORE}")
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    raise RunDirError(f"{paths.weights} does not fit the model that {paths.spec} describes: {problems[0]}{more}. The "
                      "spec was probably edited after training: restore the spec.yaml the run was trained with, or "
                      "retrain with the new one")


def _shape(tensor: torch.Tensor) -> str:
    return f"[{', '.join(str(d) for d in tensor.shape)}]"


def _mismatches(model_state: Mapping[str, torch.Tensor], weights: Mapping[str, torch.Tensor]) -> list[str]:
    """Where ``weights`` do not fit a model's state dict, in the model's parameter order then unexpected keys."""
    out = []
    for key, tensor in model_state.items():
        if key not in weights:
            out.append(f"{key}: the spec's model has it ({_shape(tensor)}) but the weights do not")
        elif weights[key].shape != tensor.shape:
            out.append(f"{key}: weights have shape {_shape(weights[key])}, the spec's model has {_shape(tensor)}")
    return out + [f"{key}: the weights have it ({_shape(weights[key])}) but the spec's model does not"
                  for key in weights if key not in model_state]


def _class_counts(model_state: Mapping[str, torch.Tensor], weights: Mapping[str, torch.Tensor], asked: int
                  ) -> list[int]:
    """Class counts the weights may have been trained for: an axis ``asked`` long in the model but another length
    (at least 2) in the weights, in any head or logit-producing fusion. The caller confirms one by building it."""
    found: set[int] = set()
    for key, tensor in model_state.items():
        other = weights.get(key)
        if other is not None and other.ndim == tensor.ndim and other.shape != tensor.shape:
            found.update(w for m, w in zip(tensor.shape, other.shape) if m == asked and w != asked and w >= 2)
    return sorted(found)


def _build(spec: Spec, classes: int, learned: dict[str, dict[str, Any]], paths: RunPaths,
           registry: Registry | None) -> MultimodalModel:
    """The model for ``classes`` with what encoders learned from the data restored (it may resize layers)."""
    from ..model.builder import build_model

    model = build_model(spec, classes, registry=registry)
    for modality, encoder in model.encoders.items():
        if modality in learned:
            try:
                encoder.load_preprocessing_state(learned[modality])
            except MMFusionError:
                raise
            except Exception as exc:  # the file's content is input here: any failure means it does not fit
                raise RunDirError(f"{paths.preprocessing}: the '{modality}' entry does not fit encoder "
                                  f"'{encoder.config.type}' ({type(exc).__name__}: {exc}); {RESTORE}") from None
        elif encoder.learns_preprocessing():
            where = f"lacks '{modality}'" if paths.preprocessing.exists() else "is missing"
            raise RunDirError(f"{paths.preprocessing} {where}: encoder '{encoder.config.type}' learned "
                              "its preprocessing (e.g. standardisation) from the training data, and without it "
                              f"predictions would be wrong; {RESTORE}")
    return model


def _architecture_only(spec: Spec) -> Spec:
    """The spec with every encoder's ``weights`` cleared and ``pretrained`` off: the run's own files give every
    value, so an encoder saved in full needs neither its original weights file nor a model cache."""
    encoders = {}
    for modality, config in spec.model.encoders.items():
        update: dict[str, object] = {"weights": None}
        if "pretrained" in type(config).model_fields:
            update["pretrained"] = False
        encoders[modality] = config.model_copy(update=update)
    return spec.model_copy(update={"model": spec.model.model_copy(update={"encoders": encoders})})
