"""How far evaluated rows' inputs are from the training rows': a per-input out-of-distribution score.

A fused score is only as good as its inputs. When the test pictures look unlike the training pictures, the model
may still answer confidently, so each input's pooled encoder vectors of (a sample of) the training rows are
summarised in the run at training time: their mean, principal directions and variances. A row's *distance* is its
Mahalanobis distance in that principal subspace plus the scaled residual outside it. The distinct training vectors
are split: the summary is fitted on three quarters and the other quarter's distances are kept as the *reference*,
so the reference is out of sample exactly as evaluated rows are (in-sample distances are smaller, which would make
every new table look drifted). Evaluated rows are compared with the reference: the AUROC of telling them apart by
distance (0.5: alike, 1: every evaluated row farther than every reference row) and the share of rows beyond the
reference's 99th percentile (about 0.01 when alike).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..io import write_safetensors_atomic

#: an input counts as drifted from this AUROC of evaluated against reference rows
DRIFTED_AUROC = 0.7
#: the reference quantile whose excess counts a row as beyond the training range
RANGE_QUANTILE = 0.99
#: principal directions kept per input at most
COMPONENTS = 64
#: distinct vectors needed at least to fit an input's summary and keep a reference
MIN_VECTORS = 8
#: reference distances needed for a 99th percentile: with fewer, ``beyond_range`` is not reported (NaN)
MIN_RANGE_REFERENCE = 100


@dataclass(frozen=True)
class InputReference:
    """One input's training vectors, summarised (arrays in float64 while scoring, float32 on disk)."""

    mean: np.ndarray
    components: np.ndarray
    variances: np.ndarray
    residual_variance: float
    reference: np.ndarray

    def distances(self, pooled: np.ndarray) -> np.ndarray:
        """Each row's distance from the training vectors (squared Mahalanobis per dimension)."""
        centred = np.asarray(pooled, dtype=np.float64) - self.mean
        projected = centred @ self.components.T
        residual = centred - projected @ self.components
        inside = (projected ** 2 / self.variances).sum(axis=1)
        outside = np.einsum("ij,ij->i", residual, residual) / self.residual_variance
        return (inside + outside) / self.mean.shape[0]

    def tensors(self, name: str) -> dict[str, np.ndarray]:
        return {f"{name}.mean": self.mean, f"{name}.components": self.components, f"{name}.variances": self.variances,
                f"{name}.residual_variance": np.array([self.residual_variance]), f"{name}.reference": self.reference}

    @classmethod
    def from_tensors(cls, tensors: Mapping[str, np.ndarray], name: str) -> InputReference:
        def get(key: str) -> np.ndarray:
            return np.asarray(tensors[f"{name}.{key}"], dtype=np.float64)

        return cls(get("mean"), get("components"), get("variances"), float(get("residual_variance")[0]),
                   np.sort(get("reference")))


def fit_reference(pooled: np.ndarray, *, seed: int = 0, components: int = COMPONENTS) -> InputReference | None:
    """The summary of one input's training vectors ``[N, D]``; None with fewer than :data:`MIN_VECTORS` distinct
    finite ones (nothing to compare with)."""
    vectors = np.asarray(pooled, dtype=np.float64)
    vectors = np.unique(vectors[np.isfinite(vectors).all(axis=1)], axis=0)
    if len(vectors) < MIN_VECTORS:
        return None
    order = np.random.default_rng(seed).permutation(len(vectors))
    held = max(2, len(vectors) // 4)
    fit, held_out = vectors[order[held:]], vectors[order[:held]]
    mean = fit.mean(axis=0)
    _, singular, directions = np.linalg.svd(fit - mean, full_matrices=False)
    variances = singular ** 2 / max(1, len(fit) - 1)
    total = float(variances.sum())
    floor = max(total, 1e-12) * 1e-6 / len(mean)
    keep = int(min(components, (variances > floor).sum(), max(1, len(fit) // 2)))  # leave a residual to estimate
    rest = len(mean) - keep
    residual_variance = max(float(variances[keep:].sum()) / max(rest, 1), floor)
    summary = InputReference(mean, directions[:keep], np.maximum(variances[:keep], floor), residual_variance,
                             np.zeros(0))
    return replace(summary, reference=np.sort(summary.distances(held_out)))


def percentiles(reference: np.ndarray, distances: np.ndarray) -> np.ndarray:
    """Each row's distance as the share of (sorted) reference distances below it, ties counting half: 0 closer than
    every training row, 0.5 typical, 1 farther than every one. Their mean is the AUROC of telling the rows from
    the reference (the Mann-Whitney statistic), so a table's summary can be made from this column alone."""
    below = np.searchsorted(reference, distances, side="left")
    up_to = np.searchsorted(reference, distances, side="right")
    return np.where(np.isfinite(distances), (below + up_to) / (2 * max(len(reference), 1)), np.nan)


def auroc(reference: np.ndarray, evaluated: np.ndarray) -> float:
    """P(an evaluated row is farther than a reference row), ties counting half."""
    if len(reference) == 0 or len(evaluated) == 0:
        return float("nan")
    return float(percentiles(np.sort(reference), evaluated).mean())


@dataclass(frozen=True)
class InputDrift:
    """How the evaluated rows' values of one input compare with the training rows'."""

    input: str
    rows: int
    auroc: float
    beyond_range: float
    median_percentile: float
    #: reference distances compared with: few (a handful of distinct training values) make the AUROC coarse
    reference_rows: int = 0

    @property
    def drifted(self) -> bool:
        return bool(self.auroc >= DRIFTED_AUROC)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: rounded, and null for a figure that cannot be given (NaN is not JSON)."""
        def shown(value: float) -> float | None:
            return None if np.isnan(value) else round(value, 4)

        return {"input": self.input, "rows": self.rows, "reference_rows": self.reference_rows,
                "auroc": shown(self.auroc), "beyond_range": shown(self.beyond_range),
                "median_percentile": shown(self.median_percentile), "drifted": self.drifted}

    def warning(self) -> str:
        beyond = "" if np.isnan(self.beyond_range) else f"; {self.beyond_range:.0%} of rows beyond the training range"
        return (f"input '{self.input}': the evaluated rows' values look unlike the training rows' (AUROC "
                f"{self.auroc:.2f} of telling them apart from training rows by their encoder features{beyond}): "
                "do not trust fused scores on these rows without checking this input")


def summarise(name: str, shares: np.ndarray, reference_rows: int = MIN_RANGE_REFERENCE) -> InputDrift:
    """The drift of one input from the evaluated rows' :func:`percentiles` (NaN: a row without the input)."""
    shares = shares[np.isfinite(shares)]
    if len(shares) == 0:
        return InputDrift(name, 0, float("nan"), float("nan"), float("nan"), reference_rows)
    beyond = float((shares > RANGE_QUANTILE).mean()) if reference_rows >= MIN_RANGE_REFERENCE else float("nan")
    return InputDrift(name, len(shares), float(shares.mean()), beyond, float(np.median(shares)), reference_rows)


def write_references(path: Path, references: Mapping[str, InputReference]) -> None:
    """``drift.safetensors`` of a run: every input's summary, float32."""
    tensors = {key: torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32))
               for name, reference in references.items() for key, value in reference.tensors(name).items()}
    write_safetensors_atomic(path, tensors, {"inputs": ",".join(references), "format": "1"})


def read_references(path: Path) -> dict[str, InputReference] | None:
    """The run's drift references; None when the run has none (``train.drift`` off) or the file is damaged (with a
    warning: a run predicts as well without it)."""
    if not path.exists():
        return None
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="np") as file:
            names = [n for n in (file.metadata() or {}).get("inputs", "").split(",") if n]
            tensors = {key: file.get_tensor(key) for key in file.keys()}  # noqa: SIM118 (safe_open is no mapping)
        return {name: InputReference.from_tensors(tensors, name) for name in names}
    except Exception as exc:  # noqa: BLE001 (any damage: header, missing tensor, shapes)
        warnings.warn(f"{path} is damaged ({type(exc).__name__}: {exc}); no drift report for this run: train it "
                      "again to have one", stacklevel=2)
        return None


def drift_report(shares: Mapping[str, np.ndarray], references: Mapping[str, InputReference], warn: Any = None
                 ) -> list[InputDrift]:
    """Each input's drift over evaluated rows' percentiles (:attr:`Predictions.drift`), leaving out inputs no row
    has; ``warn`` gets the warning of every input that drifted."""
    report = [summarise(m, values, len(references[m].reference)) for m, values in shares.items() if m in references]
    report = [d for d in report if d.rows]
    for drift in report:
        if drift.drifted and warn is not None:
            warn(drift.warning())
    return report


class DriftTally:
    """Each input's drift over a table seen a chunk at a time, in constant memory: a reference of n distances makes
    every percentile a multiple of 1 / (2n), so counting each multiple is exact."""

    def __init__(self, references: Mapping[str, InputReference]) -> None:
        self.references = dict(references)
        self.counts = {m: np.zeros(2 * len(r.reference) + 1, dtype=np.int64) for m, r in self.references.items()}

    def add(self, name: str, shares: np.ndarray) -> None:
        shares = np.asarray(shares, dtype=np.float64)
        steps = np.rint(shares[np.isfinite(shares)] * (len(self.counts[name]) - 1)).astype(np.int64)
        self.counts[name] += np.bincount(steps, minlength=len(self.counts[name]))

    def report(self, warn: Any = None) -> list[InputDrift]:
        found = []
        for name, counts in self.counts.items():
            rows, grid = int(counts.sum()), np.linspace(0.0, 1.0, len(counts))
            if not rows:
                continue
            reference_rows = len(self.references[name].reference)
            beyond = float(counts[grid > RANGE_QUANTILE].sum() / rows) if reference_rows >= MIN_RANGE_REFERENCE \
                else float("nan")
            median = float(grid[np.searchsorted(np.cumsum(counts), (rows + 1) / 2)])
            found.append(InputDrift(name, rows, float((counts * grid).sum() / rows), beyond, median, reference_rows))
        for drift in found:
            if drift.drifted and warn is not None:
                warn(drift.warning())
        return found
