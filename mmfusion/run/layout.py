"""The run directory: what training writes and what evaluate / predict / export read (docs/cli.md, "The run
directory", says what each file holds)."""

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
    calibration = _in_run("calibration.json")
    inputs = _in_run("inputs.json")
    preprocessing = _in_run("preprocessing.json")
    weights = _in_run("weights.safetensors")
    frozen_weights = _in_run(FROZEN_WEIGHTS)
    metrics = _in_run("metrics.csv")
    summary = _in_run("summary.json")
    drift = _in_run("drift.safetensors")
    plots = _in_run("plots")
    checkpoints = _in_run("checkpoints")

    @property
    def last_checkpoint(self) -> Path:
        """``checkpoints/last.json``: present once an epoch finished, so ``--resume`` can continue the run."""
        return self.checkpoints / POINTER
