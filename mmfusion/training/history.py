"""Per-epoch metrics: metrics.csv and the training-curve plot, rewritten after every epoch."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

from ..io import write_text_atomic
from ..runs import RunPaths

COLUMNS = ["epoch", "train_loss", "val_loss", "val_accuracy", "val_macro_f1", "lr", "seconds", "train_samples_per_s"]


def write_history(history: Sequence[dict[str, Any]], paths: RunPaths, *, plot: bool = True) -> None:
    """metrics.csv (every epoch) and, with ``plot``, plots/training_curves.png (about a second: at the end)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for row in history:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in COLUMNS})
    write_text_atomic(paths.metrics, buffer.getvalue())
    if not plot or not history:
        return
    from ..evaluation.plots import training_curves

    training_curves(history, paths.plots / "training_curves.png")
