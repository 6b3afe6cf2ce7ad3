"""Reading a run directory's files defensively: a run folder is read long after training wrote it, and may have
been copied, edited or half restored since. A file that does not fit stops evaluate / predict / export with a
RunDirError that names it and says what to do, never predictions under made-up labels or a traceback.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import RESTORE, RunDirError, UnreadableFile

if TYPE_CHECKING:
    from torch import Tensor


def parse_json(path: Path) -> Any:
    """A JSON file's content; ``UnreadableFile`` says why not, worded to follow the file's name."""
    if path.is_dir():
        raise UnreadableFile(path, "is a folder, not a file")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnreadableFile(path, f"is corrupt: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise UnreadableFile(path, f"cannot be read ({exc.strerror or exc}; check its permissions)") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        if not text.strip():
            raise UnreadableFile(path, "is empty") from None
        raise UnreadableFile(path, f"is not valid JSON ({exc.msg}, line {exc.lineno} column {exc.colno})") from None


def read_run_json(path: Path, *, holds: str) -> Any:
    """Parse one JSON file of a run; ``holds`` says what it should contain (for the message)."""
    try:
        return parse_json(path)
    except UnreadableFile as exc:
        raise RunDirError(f"{path} {exc}; it should hold {holds}; {RESTORE}") from None


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__)


def read_labels(path: Path) -> list[str]:
    """The class names of ``labels.json``: a non-empty JSON list of distinct strings, as training writes it."""
    holds = 'the class names in the order of the model\'s outputs, e.g. ["cat", "dog"]'
    labels = read_run_json(path, holds=holds)
    if not isinstance(labels, list):
        raise RunDirError(f"{path} holds {_kind(labels)}; it should be a JSON list of {holds[4:]}; {RESTORE}")
    if not labels:
        raise RunDirError(f"{path} lists no labels; it should list {holds[4:]}; {RESTORE}")
    seen: dict[str, int] = {}
    for i, name in enumerate(labels):
        if not isinstance(name, str):  # training writes every name as a string (a numeric label as "3")
            raise RunDirError(f"{path}: entry {i} is {_kind(name)} ({json.dumps(name)[:40]}), not a class name "
                              f"string; training writes class names as strings; {RESTORE}")
        if name in seen:
            raise RunDirError(f"{path} lists '{name}' twice (entries {seen[name]} and {i}); each class has one "
                              f"name; {RESTORE}")
        seen[name] = i
    return labels


def read_weights(path: Path) -> dict[str, Tensor]:
    """The tensors of ``weights.safetensors``, every floating value finite."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if path.is_dir():
        raise RunDirError(f"{path} is a folder, not a weights file; {RESTORE}")
    try:
        state = load_file(str(path))
    except PermissionError as exc:
        raise RunDirError(f"cannot read {path} ({exc.strerror}); check its permissions") from None
    except (SafetensorError, OSError, ValueError) as exc:
        raise RunDirError(f"{path} is corrupt or truncated ({type(exc).__name__}: {exc}); retrain or restore "
                          "it from a copy of the run") from None
    for key, tensor in state.items():
        if tensor.is_floating_point() and tensor.numel() and not bool(tensor.isfinite().all()):
            raise RunDirError(f"{path}: tensor {key} holds NaN or infinite values: the file is corrupt or "
                              f"training diverged; {RESTORE}")
    return state


def _check_inputs(path: Path, by_input: Mapping[str, Any], modalities: list[str]) -> None:
    unknown = [m for m in by_input if m not in modalities]
    if unknown:
        raise RunDirError(f"{path} names input '{unknown[0]}', which the run's model lacks (inputs: "
                          f"{', '.join(modalities)}); {RESTORE}")


def read_run_object(path: Path, key: str, *, holds: str) -> dict[str, Any]:
    data = read_run_json(path, holds=holds)
    found = data.get(key) if isinstance(data, dict) else None
    if not isinstance(found, dict):
        raise RunDirError(f"{path} does not hold {holds}; {RESTORE}")
    return found


def read_preprocessing(path: Path, modalities: list[str]) -> dict[str, dict[str, Any]]:
    """``preprocessing.json``: modality → what its encoder learned from the training data (absent: {})."""
    if not path.exists():
        return {}
    learned = read_run_json(path, holds="what each encoder learned from the training data, by input name")
    if not isinstance(learned, dict):
        raise RunDirError(f"{path} holds {_kind(learned)}, not an object of input name → learned preprocessing; "
                          f"{RESTORE}")
    _check_inputs(path, learned, modalities)
    for modality, state in learned.items():
        if not isinstance(state, dict):
            raise RunDirError(f"{path}: '{modality}' holds {_kind(state)}, not an object; {RESTORE}")
    return learned


def read_inputs(path: Path, modalities: list[str]) -> dict[str, Any]:
    """``inputs.json``: the training columns of each input and the label column (absent: none recorded)."""
    if not path.exists():
        return {"columns": {}, "label_column": None}
    holds = 'the training columns, e.g. {"columns": {"image": ["image"]}, "label_column": "label"}'
    inputs = read_run_json(path, holds=holds)
    columns = inputs.get("columns", {}) if isinstance(inputs, dict) else None
    if not isinstance(columns, dict):
        raise RunDirError(f"{path} does not hold {holds}; {RESTORE}")
    _check_inputs(path, columns, modalities)
    for modality, cols in columns.items():
        if not (isinstance(cols, str) or (isinstance(cols, list) and all(isinstance(c, str) for c in cols))):
            raise RunDirError(f"{path}: the columns of '{modality}' should be a column name or a list of names, "
                              f"not {_kind(cols)}; {RESTORE}")
    label = inputs.get("label_column")
    if label is not None and not isinstance(label, str):
        raise RunDirError(f"{path}: label_column should be a column name, not {_kind(label)}; {RESTORE}")
    return inputs


def read_summary(path: Path) -> dict[str, Any]:
    """``summary.json``, or {} with a warning when damaged: it only records how training went, and
    nothing that evaluate / predict / export compute depends on it."""
    if not path.exists():
        return {}
    try:
        summary = parse_json(path)
        problem = "" if isinstance(summary, dict) else f"holds {_kind(summary)}, not the training summary object"
    except UnreadableFile as exc:
        problem = str(exc)
    if problem:
        warnings.warn(f"{path} {problem}; ignored: it only records how training went, and nothing computed from the "
                      "run depends on it", stacklevel=3)
        return {}
    return summary


def read_thresholds(path: Path, task: str, labels: list[str]) -> list[float]:
    """The decision thresholds of a multilabel or binary run (``thresholds.json``), in output order; a run whose
    training has not finished yet has no file: 0.5 for every label, with a warning."""
    expected = [labels[1]] if task == "binary" else list(labels)
    if not path.exists():
        warnings.warn(f"{path} is missing (training writes it when it ends, tuned on the validation data): "
                      "using 0.5 for every label", stacklevel=3)
        return [0.5] * len(expected)
    holds = 'the decision thresholds by label, e.g. {"thresholds": {"cat": 0.42, "dog": 0.5}}'
    thresholds = read_run_object(path, "thresholds", holds=holds)
    if list(thresholds) != expected:
        what = f"the positive label '{expected[0]}'" if task == "binary" else "every label of labels.json, in order"
        raise RunDirError(f"{path} lists thresholds for {', '.join(map(str, thresholds)) or 'no label'}, but this "
                          f"{task} run needs one for {what}; {RESTORE} (or retrain)")
    values = []
    for label, value in thresholds.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise RunDirError(f"{path}: the threshold of '{label}' is {json.dumps(value)[:40]}, not a number between "
                              f"0 and 1; {RESTORE}")
        values.append(float(value))
    return values


def read_temperature(path: Path, task: str, labels: list[str]) -> list[float] | None:
    """The temperatures of a calibrated run (``calibration.json``, ``train.calibration: temperature``): one for
    multiclass, else one per output in output order; a run whose training has not finished has no file: its
    scores as trained (None), with a warning."""
    if not path.exists():
        warnings.warn(f"{path} is missing (training writes it when it ends, fitted on the validation data): the "
                      "scores are used as trained", stacklevel=3)
        return None
    from ..tasks.calibration import temperature_keys

    expected = temperature_keys(task, labels)
    holds = 'the fitted temperatures, e.g. {"temperatures": {"all classes": 1.7}}'
    found = read_run_object(path, "temperatures", holds=holds)
    if list(found) != expected:
        raise RunDirError(f"{path} lists temperatures for {', '.join(map(str, found)) or 'nothing'}, but this run "
                          f"needs one for {', '.join(expected)}; {RESTORE} (or retrain)")
    values = []
    for key, value in found.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
            raise RunDirError(f"{path}: the temperature of '{key}' is {json.dumps(value)[:40]}, not a finite positive "
                              f"number; {RESTORE}")
        values.append(float(value))
    return values
