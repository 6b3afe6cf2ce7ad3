"""The JSON that travels with an exported model: labels, the input tensors, and how to preprocess."""

from __future__ import annotations

from typing import Any

from ..runs import LoadedRun
from .wrapper import TensorInterface


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
    if learned:
        info["learned"] = learned
    return info


def export_metadata(run: LoadedRun, interface: TensorInterface, axes: list[dict[int, str]], fmt: str,
                    filename: str) -> dict[str, Any]:
    model = run.model
    inputs = []
    example_names = interface.input_names
    for name, tensor_axes in zip(example_names, axes):
        modality, _, key = name.partition(".")
        inputs.append({"name": name, "modality": modality,
                       "description": "bool [batch]: True where the sample has this modality" if key == "present"
                       else f"encoder input '{key}'",
                       "variable_axes": {str(a): n for a, n in tensor_axes.items()}})
    return {
        "format": fmt,
        "file": filename,
        "labels": run.labels,
        "inputs": inputs,
        "output": {"name": "logits", "shape": ["batch", len(run.labels)],
                   "note": "softmax over the last axis gives class probabilities"},
        "preprocessing": {m: _preprocessing(e) for m, e in model.encoders.items()},
        "absent_modality": "give any well-formed tensors for absent rows and False in '<modality>.present'",
        "spec": run.spec.model_dump(mode="json")["model"],
    }
