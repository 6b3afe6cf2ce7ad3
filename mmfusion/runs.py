"""The run directory: what training writes and what evaluate / predict / export read.

```
RUN/
  spec.yaml             the resolved spec (model, data, train)
  labels.json           class names in output order
  inputs.json           modality → column(s) and the label column used in training
  preprocessing.json    what encoders learned from the training data (e.g. standardisation)
  weights.safetensors   best model weights
  metrics.csv           one row per epoch
  summary.json          final metrics, timings, device, precision, data counts
  plots/                training_curves.png, confusion_matrix.png, ...
  checkpoints/          last epoch's full training state (for --resume)
```
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import MMFusionError
from .io import read_json

if TYPE_CHECKING:
    import torch

    from .model import MultimodalModel
    from .registry import Registry
    from .spec.spec import Spec


@dataclass(frozen=True)
class RunPaths:
    root: Path

    @property
    def spec(self) -> Path:
        return self.root / "spec.yaml"

    @property
    def labels(self) -> Path:
        return self.root / "labels.json"

    @property
    def inputs(self) -> Path:
        return self.root / "inputs.json"

    @property
    def preprocessing(self) -> Path:
        return self.root / "preprocessing.json"

    @property
    def weights(self) -> Path:
        return self.root / "weights.safetensors"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.csv"

    @property
    def summary(self) -> Path:
        return self.root / "summary.json"

    @property
    def plots(self) -> Path:
        return self.root / "plots"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"


@dataclass
class LoadedRun:
    """A trained model with its spec and labels, ready for evaluation or prediction."""

    paths: RunPaths
    spec: Spec
    labels: list[str]
    model: MultimodalModel
    summary: dict[str, Any]
    inputs: dict[str, Any]


def load_run(run_dir: str | Path, *, device: str | torch.device = "cpu", registry: Registry | None = None
             ) -> LoadedRun:
    """Rebuild the model of a run directory and load its best weights (safetensors, no pickle).

    Raises:
        MMFusionError: the folder is not a finished run (the message names what is missing).
    """
    from safetensors.torch import load_file

    from .builder import build_model
    from .spec.loader import load_spec

    paths = RunPaths(Path(run_dir))
    if not paths.root.is_dir():
        raise MMFusionError(f"run directory {paths.root} does not exist")
    for required in (paths.spec, paths.labels, paths.weights):
        if not required.exists():
            hint = " (did training finish its first epoch?)" if required == paths.weights else ""
            raise MMFusionError(f"{paths.root} is not a run directory: {required.name} is missing{hint}")
    spec = load_spec(paths.spec, registry=registry)
    labels = [str(x) for x in read_json(paths.labels)]
    model = build_model(_architecture_only(spec), len(labels), registry=registry)
    if paths.preprocessing.exists():
        for modality, learned in read_json(paths.preprocessing).items():
            model.encoders[modality].load_preprocessing_state(learned)
    state = load_file(str(paths.weights))
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise MMFusionError(f"{paths.weights} does not match the model of {paths.spec}: "
                            f"{len(missing)} missing, {len(unexpected)} unexpected tensors")
    model.eval().to(device)
    summary = read_json(paths.summary) if paths.summary.exists() else {}
    inputs = read_json(paths.inputs) if paths.inputs.exists() else {"columns": {}, "label_column": None}
    return LoadedRun(paths, spec, labels, model, summary, inputs)


def _architecture_only(spec: Spec) -> Spec:
    """The spec with every encoder's ``weights`` cleared and ``pretrained`` off: the run's own weights file
    holds every value, so loading a run needs neither the original weights files nor a model cache (a run
    copied to another machine still loads). Encoders' ``weights``/``pretrained`` must not change architecture.
    """
    encoders = {}
    for modality, config in spec.model.encoders.items():
        update: dict[str, object] = {"weights": None}
        if "pretrained" in type(config).model_fields:
            update["pretrained"] = False
        encoders[modality] = config.model_copy(update=update)
    return spec.model_copy(update={"model": spec.model.model_copy(update={"encoders": encoders})})
