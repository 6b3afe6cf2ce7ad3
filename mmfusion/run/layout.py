"""The run directory: what training writes and what evaluate / predict / export read.

```
RUN/
  spec.yaml             the resolved spec (model, data, train)
  labels.json           class names in output order (binary: the negative, then the positive label)
  thresholds.json       multilabel and binary: decision thresholds by label, tuned on validation data
  inputs.json           modality → column(s) and the label column used in training
  preprocessing.json    what encoders learned from the training data (e.g. standardisation)
  weights.safetensors   best model weights, less the frozen pretrained encoders saved by reference
  frozen_weights.json   those encoders: where their weights come from and a digest (mmfusion.run.frozen)
  metrics.csv           one row per epoch
  summary.json          final metrics, timings, device, precision, data counts
  plots/                training_curves.png, confusion_matrix.png, ...
  checkpoints/          last epoch's training state (for --resume), also without the referenced encoders
    last.json           names the checkpoint in force
  .lock                 held while a training writes into the folder (mmfusion.run.lock)
```
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

FROZEN_WEIGHTS = "frozen_weights.json"
#: in ``checkpoints/``: the checkpoint in force
POINTER = "last.json"


def _in_run(name: str) -> property:
    return property(lambda self: self.root / name)


@dataclass(frozen=True)
class RunPaths:
    root: Path
    spec = _in_run("spec.yaml")
    labels = _in_run("labels.json")
    thresholds = _in_run("thresholds.json")
    inputs = _in_run("inputs.json")
    preprocessing = _in_run("preprocessing.json")
    weights = _in_run("weights.safetensors")
    frozen_weights = _in_run(FROZEN_WEIGHTS)
    metrics = _in_run("metrics.csv")
    summary = _in_run("summary.json")
    plots = _in_run("plots")
    checkpoints = _in_run("checkpoints")

    @property
    def last_checkpoint(self) -> Path:
        """``checkpoints/last.json``: present once an epoch finished, so ``--resume`` can continue the run."""
        return self.checkpoints / POINTER
