"""The JSON that travels with an exported model: task, labels, thresholds, the input tensors, and how to
preprocess and read the output."""

from __future__ import annotations

from typing import Any

from ..run.load import LoadedRun
from ..tasks.definitions import num_outputs
from ..tasks.scores import score_name
from .wrapper import TensorInterface

#: how to read the logits, per task
OUTPUT_NOTES = {
    "multiclass": "softmax over the last axis gives class probabilities",
    "multilabel": "a sigmoid of each logit gives that label's probability; a label is predicted where its "
                  "probability is at least its threshold",
    "binary": "the one logit is the positive label's: sigmoid(logit) is its probability, and the positive label "
              "is predicted where that is at least the threshold (else the other label)",
}


def _preprocessing(encoder: Any) -> dict[str, Any]:
    info: dict[str, Any] = {"encoder": encoder.config.type, "modality": encoder.modality}
    describe = getattr(encoder, "preprocessing", None)
    if callable(describe):
        info.update(describe())
    tokenizer = getattr(encoder, "tokenizer", None)
    if tokenizer is not None:
        info.update({"tokenizer": getattr(tokenizer, "name_or_path", None),
                     "max_length": getattr(encoder.config, "max_length", None),
                     "pad_token_id": getattr(encoder, "pad_id", None)})
    learned = encoder.preprocessing_state()
    return {**info, "learned": learned} if learned else info


def _temperature(run: LoadedRun) -> dict[str, float] | None:
    """A calibrated run's temperatures (divide the logits by them before the scores), by label; None: use the
    logits as they are."""
    from ..tasks.calibration import temperature_keys

    if run.temperature is None:
        return None
    return dict(zip(temperature_keys(run.task, run.labels), run.temperature))


def export_metadata(run: LoadedRun, interface: TensorInterface, axes: list[dict[int, str]], fmt: str,
                    filename: str) -> dict[str, Any]:
    from ..tasks.thresholds import as_mapping

    inputs = []
    for name, tensor_axes in zip(interface.input_names, axes):
        modality, _, key = name.partition(".")
        inputs.append({"name": name, "modality": modality,
                       "description": "bool [batch]: True where the sample has this modality" if key == "present"
                       else f"encoder input '{key}'",
                       "variable_axes": {str(a): n for a, n in tensor_axes.items()}})
    task = run.task
    return {
        "format": fmt,
        "file": filename,
        "task": task,
        "labels": run.labels,
        "positive_label": run.positive_label,
        "thresholds": None if run.thresholds is None else as_mapping(task, run.labels, run.thresholds),
        "scores": score_name(task, run.spec.train.loss),
        "temperature": _temperature(run),
        "inputs": inputs,
        "output": {"name": "logits", "shape": ["batch", num_outputs(task, len(run.labels))],
                   "note": OUTPUT_NOTES[task] + ("" if run.temperature is None else
                                                 " (of the logits divided by 'temperature', the calibrated run's)")},
        "preprocessing": {m: _preprocessing(e) for m, e in run.model.encoders.items()},
        "absent_modality": "give any well-formed tensors for absent rows and False in '<modality>.present'",
        "spec": run.spec.model_dump(mode="json")["model"],
    }
