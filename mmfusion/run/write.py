"""Starting a run directory: checked and locked before training, then what training knows before its first epoch
and evaluate / predict need (the resolved spec, labels, training columns, learned preprocessing), each atomically.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..io import ensure_folder, write_json_atomic, write_text_atomic
from .errors import RunDirError
from .files import read_labels
from .layout import RunPaths

if TYPE_CHECKING:
    from ..model.multimodal import MultimodalModel
    from ..spec.spec import Spec


def claim_run_dir(paths: RunPaths, *, resume: bool, lock: Callable[[], object]) -> None:
    """Create the run directory and take its lock (``lock``), then check that it fits ``resume``: a new run
    goes into a folder without one, ``--resume`` continues a run with a finished epoch."""
    if not resume or paths.root.exists():
        ensure_folder(paths.root, "run directory")
        lock()
    pointer = paths.last_checkpoint
    if resume and not pointer.exists():
        raise RunDirError(f"nothing to resume in {paths.root}: no finished epoch ({pointer} is missing); start "
                          "without --resume")
    if not resume and (pointer.exists() or paths.weights.exists()):
        raise RunDirError(f"{paths.root} already holds a run; continue it with --resume or choose another --out")


def remove_unstarted_run(paths: RunPaths) -> None:
    """Delete the folder of a new run that stopped before its first finished epoch (nothing in it to resume or
    evaluate), so a failed ``train`` leaves no half-written run behind. Only the trainer that created the folder
    calls this; a run with a checkpoint or weights is kept (``--resume`` continues it)."""
    import shutil

    if paths.root.is_dir() and not paths.last_checkpoint.exists() and not paths.weights.exists():
        shutil.rmtree(paths.root, ignore_errors=True)


def check_resumed_labels(paths: RunPaths, names: list[str]) -> None:
    """A resumed run must find the labels it started with (RunDirError when they differ from ``labels.json``)."""
    if paths.labels.exists() and read_labels(paths.labels) != names:
        raise RunDirError(f"cannot resume: the labels of the data differ from {paths.labels}")


def run_inputs(model: MultimodalModel, columns: Mapping[str, Any], label_column: str | None) -> dict[str, Any]:
    """What ``inputs.json`` holds: each input's training columns, the label column, each input's modality."""
    return {"columns": dict(columns), "label_column": label_column,
            "modalities": {m: e.modality for m, e in model.encoders.items()}}


def write_run_files(paths: RunPaths, spec: Spec, model: MultimodalModel, labels: list[str],
                    inputs: Mapping[str, Any]) -> None:
    """spec.yaml, labels.json, inputs.json, preprocessing.json: what evaluate / predict need besides weights."""
    from ..spec.loader import spec_to_yaml

    write_text_atomic(paths.spec, spec_to_yaml(spec))  # the folder: made by claim_run_dir
    write_json_atomic(paths.labels, labels)
    learned = {m: state for m, e in model.encoders.items() if (state := e.preprocessing_state())}
    if learned:
        write_json_atomic(paths.preprocessing, learned)
    write_json_atomic(paths.inputs, dict(inputs))
