"""Embeddings of rows: the fused vector (the fusion's output, the head's input) and each input's pooled vector.

The engine computes them in the same pass that scores rows (``InferenceEngine.predict(fused=True, pooled=True)``);
this module only lines them up by row. An input a row lacks gets a NaN vector and False in its presence flag,
never the filler its encoder saw passed off as the input's vector.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import DataError, did_you_mean
from ..inference.engine import Predictions

#: ``what`` may name the fused vector, ``pooled`` (every input's pooled vector) or inputs by name
FUSED, POOLED = "fused", "pooled"
#: the column of each row's position in its table
ROW = "row"


@dataclass(frozen=True)
class Wanted:
    """Which vectors to compute: the fused one, and the pooled vectors of these inputs (sorted)."""

    fused: bool
    pooled: tuple[str, ...]

    @property
    def names(self) -> list[str]:
        """The vectors by the names their columns and arrays take."""
        return [FUSED] * self.fused + list(self.pooled)


def wanted(what: str | Iterable[str], inputs: Sequence[str]) -> Wanted:
    """The vectors ``what`` asks for: ``fused``, ``pooled`` (every input) and input names, comma-separated or a list.

    Raises:
        DataError: ``what`` is empty or names something that is none of these.
    """
    names = [n.strip() for n in (what.split(",") if isinstance(what, str) else what) if n.strip()]
    choices = [FUSED, POOLED, *inputs]
    for name in names:
        if name not in choices:
            raise DataError(f"unknown embedding '{name}'{did_you_mean(name, choices)} (choose from "
                            f"{', '.join(choices)}; pooled: every input's pooled vector)")
    if not names:
        raise DataError(f"no embedding asked for; choose from {', '.join(choices)}")
    for clash in sorted({FUSED, ROW} & set(inputs)):
        raise DataError(f"this model has an input named '{clash}', which would share its column with the {clash} "
                        "column of the embeddings")
    pooled = inputs if POOLED in names else [m for m in inputs if m in names]
    return Wanted(FUSED in names, tuple(sorted(pooled)))


@dataclass
class Embeddings:
    """Row-aligned vectors of ``N`` rows: ``rows`` their positions in the table (or the samples' indices),
    ``fused`` ``[N, D]`` (None when not asked for), ``pooled`` input → ``[N, D_input]`` float32 (NaN rows where the
    row lacks the input) and ``present`` input → ``[N]`` bool for every input of the model."""

    rows: np.ndarray
    present: dict[str, np.ndarray]
    fused: np.ndarray | None = None
    pooled: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.rows)

    @classmethod
    def of(cls, found: Predictions, rows: Sequence[int], want: Wanted, dims: Mapping[str, int]) -> Embeddings:
        """The embeddings in the engine's predictions (run with ``fused``/``pooled`` as ``want`` says); ``dims`` is
        each input's pooled width (its encoder's ``output_dim``), which an input no row has still needs."""
        present = {m: np.asarray(p, dtype=bool) for m, p in (found.present or {}).items()}
        pooled = {}
        for m in want.pooled:  # the engine returns the vectors of the rows that have the input: spread them out
            full = np.full((len(rows), dims[m]), np.nan, dtype=np.float32)
            full[present[m]] = (found.pooled or {}).get(m, np.zeros((0, dims[m])))
            pooled[m] = full
        fused = found.fused.astype(np.float32, copy=False) if want.fused and found.fused is not None else None
        return cls(np.asarray(rows, dtype=np.int64), present, fused, pooled)

    @classmethod
    def concat(cls, parts: Sequence[Embeddings]) -> Embeddings:
        """The parts' rows one after another (at least one part)."""
        first = parts[0]
        return cls(np.concatenate([p.rows for p in parts]),
                   {m: np.concatenate([p.present[m] for p in parts]) for m in first.present},
                   None if first.fused is None else np.concatenate([p.fused for p in parts]),  # type: ignore[misc]
                   {m: np.concatenate([p.pooled[m] for p in parts]) for m in first.pooled})

    def arrays(self) -> dict[str, np.ndarray]:
        """Name → array, in the order files hold them: ``row``, ``fused``, each input's vector, each input's
        ``<input>.present``."""
        out: dict[str, np.ndarray] = {ROW: self.rows}
        if self.fused is not None:
            out[FUSED] = self.fused
        out.update(self.pooled)
        out.update({f"{m}.present": p for m, p in sorted(self.present.items())})
        return out


class AbsentTally:
    """Unusable values made absent (``on_bad_value: absent``): ``pending`` input → messages, which the predictor's
    row parser fills; :meth:`settle` after each chunk keeps only counts and the first message, so a table full of
    bad values does not fill memory."""

    def __init__(self, inputs: Iterable[str]) -> None:
        self.pending: dict[str, list[str]] = {m: [] for m in inputs}
        self.counts: dict[str, int] = {}
        self.first: dict[str, str] = {}

    def settle(self) -> None:
        for m, messages in self.pending.items():
            if messages:
                self.counts[m] = self.counts.get(m, 0) + len(messages)
                self.first.setdefault(m, messages[0])
                messages.clear()

    def warn(self) -> None:
        """One warning per input that had unusable values."""
        self.settle()
        for m, count in sorted(self.counts.items()):
            warnings.warn(f"{count} unusable '{m}' value(s) treated as absent (on_bad_value: absent for '{m}'), "
                          f"e.g. {self.first[m]}", stacklevel=3)
