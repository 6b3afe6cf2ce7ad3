"""Robustness curves: a metric (accuracy, or the task's headline metric) as one modality is corrupted at rising
intensities.

A corrupted modality wraps the original: same parsing, but ``load`` degrades the raw value
(deterministically per sample) and ``fingerprint`` records the corruption, so corrupted features
of frozen encoders are cached too and shared by every model evaluated on the same data.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import MMFusionError
from ..interfaces.corruption import Corruption
from ..interfaces.modality import CellContext, Modality
from ..model.multimodal import MultimodalModel
from ..registry import Registry, get_registry

DEFAULT_INTENSITIES = (0.0, 0.25, 0.5, 0.75, 1.0)


@dataclass(frozen=True)
class CorruptionPlan:
    """Corrupt the input ``modality`` with ``corruption`` at each of ``intensities``."""

    modality: str
    corruption: str
    intensities: tuple[float, ...] = DEFAULT_INTENSITIES

    @classmethod
    def parse(cls, text: str) -> CorruptionPlan:
        """``image:gaussian_noise`` or ``image:gaussian_noise=0,0.1,0.3``."""
        head, _, values = text.partition("=")
        modality, sep, corruption = head.partition(":")
        if not sep or not modality or not corruption:
            raise MMFusionError(f"--corrupt expects MODALITY:CORRUPTION[=I1,I2,...], got '{text}'")
        intensities = DEFAULT_INTENSITIES
        if values:
            try:
                intensities = tuple(float(v) for v in values.split(","))
            except ValueError:
                raise MMFusionError(f"--corrupt {text}: intensities must be numbers in [0, 1]") from None
        if any(not 0 <= v <= 1 for v in intensities):
            raise MMFusionError(f"--corrupt {text}: intensities must lie in [0, 1]")
        return cls(modality.strip(), corruption.strip(), tuple(sorted(set(intensities))))


def default_plans(model: MultimodalModel, registry: Registry | None = None) -> list[CorruptionPlan]:
    """Every registered corruption for every input whose modality it applies to."""
    entries = (registry or get_registry()).entries("corruption")
    return [CorruptionPlan(name, entry.name) for name, encoder in model.encoders.items() for entry in entries
            if entry.cls.modality == encoder.modality]


def check_plans(plans: Sequence[CorruptionPlan], model: MultimodalModel, registry: Registry | None = None
                ) -> dict[str, Corruption]:
    """Instantiate the corruptions, checking each fits its input's modality."""
    registry = registry or get_registry()
    corruptions = {}
    for plan in plans:
        if plan.modality not in model.encoders:
            raise MMFusionError(f"cannot corrupt '{plan.modality}': the model's inputs are "
                                f"{', '.join(model.modalities)}")
        corruption = registry.get("corruption", plan.corruption)()
        kind = model.encoders[plan.modality].modality
        if corruption.modality != kind:
            raise MMFusionError(f"corruption '{plan.corruption}' applies to {corruption.modality} inputs, but "
                                f"'{plan.modality}' is {kind}")
        corruptions[plan.corruption] = corruption
    return corruptions


class CorruptedModality(Modality):
    """``base`` with its values degraded by ``corruption`` at ``intensity`` (seeded per value)."""

    def __init__(self, base: Modality, corruption: Corruption, intensity: float, seed: int = 0) -> None:
        self.base, self.corruption, self.intensity, self.seed = base, corruption, intensity, seed
        self.name = base.name  # type: ignore[misc]
        self.multiple_columns = base.multiple_columns  # type: ignore[misc]

    def parse(self, cells: Sequence[Any], context: CellContext) -> Any | None:
        return self.base.parse(cells, context)

    def load(self, reference: Any) -> Any:
        key = hashlib.sha256(f"{self.seed}|{self.base.fingerprint(reference)}".encode()).digest()
        return self.corruption.apply(self.base.load(reference), self.intensity, random.Random(key))

    def fingerprint(self, reference: Any) -> str:
        base = self.base.fingerprint(reference)
        return base if self.intensity == 0 else f"{base}|{self.corruption.name}@{self.intensity:g}#{self.seed}"


def summarise_curves(rows: Sequence[Mapping[str, Any]], metric: str = "accuracy") -> list[dict[str, Any]]:
    """Per (modality, corruption): the clean ``metric``, area under its curve, and AUC relative to clean.

    ``relative_robustness`` = mean ``metric`` over the intensity range (trapezoid rule) divided by its value
    at the lowest intensity: 1.0 means no degradation at all. Keys name the metric: ``clean_accuracy``,
    ``worst_accuracy``, ``mean_accuracy`` (``clean_micro_f1``, ... for multilabel runs).
    """
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["modality"], row["corruption"]), []).append(row)
    summary = []
    for (modality, corruption), points in groups.items():
        points = sorted(points, key=lambda r: r["intensity"])
        x = np.array([p["intensity"] for p in points])
        y = np.array([p[metric] for p in points], dtype=float)
        span = float(x[-1] - x[0]) or 1.0
        trapezoid = getattr(np, "trapezoid", None) or np.trapz  # numpy < 2 names it trapz
        area = float(trapezoid(y, x)) / span if len(x) > 1 else float(y[0])
        clean = float(y[0])
        summary.append({"modality": modality, "corruption": corruption, "metric": metric, f"clean_{metric}": clean,
                        f"worst_{metric}": float(y.min()), f"mean_{metric}": area,
                        "relative_robustness": area / clean if clean > 0 else float("nan")})
    return summary
