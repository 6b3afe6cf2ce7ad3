"""The corruption contract: degrade one raw value of a modality at an intensity in [0, 1]."""

from __future__ import annotations

import random
from typing import Any, ClassVar


class Corruption:
    """Base class of corruptions. Subclasses set ``name``, ``modality`` and implement :meth:`corrupt`, which must
    be deterministic given ``rng`` (seeded per sample, so every model compared sees the same corrupted data)."""

    name: ClassVar[str]
    modality: ClassVar[str]
    description: ClassVar[str] = ""

    def apply(self, value: Any, intensity: float, rng: random.Random) -> Any:
        """``value`` corrupted at ``intensity`` (unchanged at 0 or below)."""
        return value if intensity <= 0 else self.corrupt(value, intensity, rng)

    def corrupt(self, value: Any, intensity: float, rng: random.Random) -> Any:  # pragma: no cover - abstract
        """``value`` degraded at ``intensity`` in (0, 1]."""
        raise NotImplementedError
