"""Uncertainty in sweep results: t-intervals over seeds and a paired bootstrap over test rows.

The two answer different questions. The t-interval of a variant's mean says how much its score moves with
the training seed. The paired bootstrap says whether one variant beats another on this test set: each
resample draws the test rows with replacement, the *same* rows for every run (that is the pairing), each
variant's metric is averaged over its seeds on those rows, and the difference of two variants' averages
over the resamples gives a percentile interval and a two-sided p-value.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..evaluation.predictions import SamplePredictions
from ..tasks.metrics import weighted_metric

CONFIDENCE = 0.95
#: resamples per chunk are capped so that one chunk's weights stay near this many numbers (16 MB)
_CHUNK_CELLS = 2_000_000


def _finite(values: Sequence[float | None]) -> np.ndarray:
    array = np.asarray([v for v in values if v is not None], dtype=float)
    return array[np.isfinite(array)]  # one undefined value (a robustness of a 0-accuracy run) hides no others


def mean_std(values: Sequence[float | None]) -> tuple[float, float]:
    """Mean (NaN for none) and standard deviation (0 below two values) over seeds of the finite values."""
    array = _finite(values)
    return float(array.mean()) if len(array) else float("nan"), float(array.std(ddof=1)) if len(array) > 1 else 0.0


def t_interval(values: Sequence[float | None], confidence: float = CONFIDENCE,
               bounds: tuple[float, float] | None = (0.0, 1.0)) -> tuple[float, float, float]:
    """Mean and the Student-t interval of the mean over the finite values (NaN bounds below two values), clipped
    to ``bounds`` (every sweep metric lies in [0, 1]; a t-interval over three seeds of 0.999 would not)."""
    from scipy import stats

    array = _finite(values)
    if not len(array):
        return float("nan"), float("nan"), float("nan")
    mean = float(array.mean())
    if len(array) < 2:
        return mean, float("nan"), float("nan")
    half = float(stats.t.ppf(0.5 + confidence / 2, len(array) - 1) * array.std(ddof=1) / np.sqrt(len(array)))
    low, high = mean - half, mean + half
    if bounds is not None:
        low, high = max(low, bounds[0]), min(high, bounds[1])
    return mean, low, high


@dataclass(frozen=True)
class Comparison:
    """``variant`` − ``reference`` in a metric: the observed difference, its interval and p-value."""

    variant: str
    reference: str
    difference: float
    low: float
    high: float
    p_value: float
    resamples: int


def resample_weights(rows: int, resamples: int, seed: int = 0) -> Iterator[np.ndarray]:
    """Bootstrap resamples of ``rows`` rows as ``[b, rows]`` draw counts, in chunks that bound memory."""
    rng = np.random.default_rng(seed)
    chunk = max(1, min(resamples, _CHUNK_CELLS // max(rows, 1)))
    done = 0
    while done < resamples:
        size = min(chunk, resamples - done)
        yield rng.multinomial(rows, np.full(rows, 1.0 / rows), size=size).astype(np.float64)
        done += size


def aligned(runs: Sequence[SamplePredictions]) -> list[SamplePredictions] | None:
    """The runs with their rows in the first run's order; None when they were evaluated on different rows
    (e.g. a variant that changed ``data.split``), which cannot be paired."""
    if not runs:
        return None
    reference = runs[0].rows
    out = []
    for run in runs:
        if np.array_equal(run.rows, reference):
            out.append(run)
            continue
        if len(run.rows) != len(reference) or not np.array_equal(np.sort(run.rows), np.sort(reference)):
            return None
        position = {int(r): i for i, r in enumerate(run.rows)}
        order = np.array([position[int(r)] for r in reference])
        out.append(SamplePredictions(reference, run.labels[order], run.probabilities[order], run.label_names,
                                     run.task, run.thresholds))
    return out


def paired_bootstrap(runs: Mapping[str, Sequence[SamplePredictions]], pairs: Sequence[tuple[str, str]],
                     metric: str, resamples: int = 1000, seed: int = 0) -> dict[tuple[str, str], Comparison]:
    """Compare (variant, reference) pairs of variants (each with one predictions set per seed) on shared resamples
    of the test rows; pairs whose runs are on different rows are left out."""
    names = sorted({n for pair in pairs for n in pair if runs.get(n)})
    every = aligned([p for n in names for p in runs[n]])
    if every is None or not names or resamples < 1:
        return {}
    ends = np.cumsum([len(runs[n]) for n in names])
    by_name = {n: every[end - len(runs[n]):end] for n, end in zip(names, ends)}
    observed = {n: _seed_mean(by_name[n], metric, np.ones((1, len(every[0]))))[0] for n in names}
    draws: dict[str, list[np.ndarray]] = {n: [] for n in names}
    for weights in resample_weights(len(every[0]), resamples, seed):
        for name in names:
            draws[name].append(_seed_mean(by_name[name], metric, weights))
    values = {n: np.concatenate(d) for n, d in draws.items()}
    out = {}
    for variant, reference in pairs:
        if variant not in values or reference not in values:
            continue
        difference = values[variant] - values[reference]
        finite = difference[np.isfinite(difference)]
        if not len(finite):
            continue
        # two-sided: twice the smaller tail around 0, with the +1 that keeps a p-value from being 0
        tail = min(int((finite <= 0).sum()), int((finite >= 0).sum()))
        low, high = np.percentile(finite, [50 * (1 - CONFIDENCE), 50 * (1 + CONFIDENCE)])
        out[(variant, reference)] = Comparison(variant, reference, float(observed[variant] - observed[reference]),
                                               float(low), float(high), min(1.0, 2 * (tail + 1) / (len(finite) + 1)),
                                               len(finite))
    return out


def _seed_mean(runs: Sequence[SamplePredictions], metric: str, weights: np.ndarray) -> np.ndarray:
    """The metric under each weighting, averaged over the variant's runs (seeds)."""
    import warnings

    values = np.stack([weighted_metric(r.task, metric, r.labels, r.probabilities, r.thresholds, weights)
                       for r in runs])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a resample where the metric is undefined in every seed
        return np.nanmean(values, axis=0)
