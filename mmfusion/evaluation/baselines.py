"""``evaluate --baseline RUN``: the run's score with inputs removed against runs trained on the inputs left.

A fused model that loses an input should keep at least what a model of the remaining inputs alone gives; a single
run cannot know that figure, so the user names such runs (e.g. the text-only baseline of a sweep). Each baseline is
evaluated on the same rows, and the run's score without the inputs the baseline lacks is compared with it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..errors import MMFusionError

#: how far "without X" may fall below the baseline of the inputs left before it is flagged
DEGRADATION_TOLERANCE = 0.01


def removed_inputs(inputs: Sequence[str], baseline_inputs: Sequence[str], baseline: str | Path) -> list[str]:
    """The run's inputs a baseline lacks; an error unless the baseline reads a strict subset of them."""
    extra = sorted(set(baseline_inputs) - set(inputs))
    removed = sorted(set(inputs) - set(baseline_inputs))
    if extra or not removed:
        why = (f"it reads {', '.join(extra)}, which the run has not" if extra else
               "it reads the same inputs as the run")
        raise MMFusionError(f"--baseline {baseline}: a baseline is a run on some of the run's inputs "
                            f"({', '.join(sorted(inputs))}), but {why}; name a run trained on fewer of them, "
                            "e.g. the 'text only' run of an ablation")
    return removed


def condition_name(removed: Sequence[str]) -> str:
    return "without " + ", ".join(removed)


def compare(run_score: Callable[[list[str]], float], baselines: Sequence[tuple[str, list[str], float]],
            metric: str) -> list[dict[str, Any]]:
    """Per baseline (its name, the run's inputs it lacks, its score): the run's score without those inputs
    (``run_score(removed)``), the difference, and whether it falls more than the tolerance below."""
    found = []
    for name, removed, value in baselines:
        without = run_score(removed)
        found.append({"baseline": name, "removed": removed, "metric": metric, "without": round(without, 6),
                      "baseline_value": round(value, 6), "difference": round(without - value, 6),
                      "below": bool(without < value - DEGRADATION_TOLERANCE)})
    return found
