"""Which variants differ for real: each variant against the best single input, the unimodal ensemble and the
best variant, with t-intervals over seeds and paired bootstrap tests over test rows (see :mod:`.stats`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..evaluation.predictions import SamplePredictions
from ..evaluation.report import markdown_table
from ..tasks.definitions import metric_title
from .breakdown import interval
from .stats import Comparison, mean_std, paired_bootstrap, t_interval

#: reference → what the table calls it
REFERENCES = {"single": "best single input", "ensemble": "unimodal ensemble", "best": "best variant"}


def best(rows: Sequence[dict[str, Any]], metric: str) -> dict[str, Any]:
    """Highest mean ``metric``; among equal means (to 4 decimals), the smaller spread over seeds; then the first."""
    def key(row: dict[str, Any]) -> tuple[float, float]:
        mean, std = mean_std(row[metric])
        return (float("inf"), 0.0) if np.isnan(mean) else (-round(mean, 4), std)

    return min(rows, key=key)


def references(rows: Sequence[dict[str, Any]], metric: str) -> dict[str, str]:
    """Reference kind → variant: the best single-input variant, the ensemble, the best trained variant."""
    groups = {"single": [r for r in rows if r["kind"] == "single"],
              "ensemble": [r for r in rows if r["kind"] == "ensemble"],
              "best": [r for r in rows if r["kind"] != "ensemble"]}
    return {kind: best(group, metric)["variant"] for kind, group in groups.items() if group}


def compare(rows: Sequence[dict[str, Any]], runs: Mapping[str, Sequence[SamplePredictions]], metric: str,
            resamples: int) -> dict[tuple[str, str], Comparison]:
    """Every variant against every reference (itself excluded), on shared bootstrap resamples."""
    refs = references(rows, metric)
    pairs = [(r["variant"], ref) for ref in dict.fromkeys(refs.values()) for r in rows if r["variant"] != ref]
    return paired_bootstrap(runs, pairs, metric, resamples) if resamples > 0 else {}


def significance_markdown(rows: Sequence[dict[str, Any]], comparisons: Mapping[tuple[str, str], Comparison],
                          metric: str, resamples: int, test_rows: int | None) -> list[str]:
    """The section of results.md: mean [t-interval] per variant, Δ [interval] and p against each reference."""
    refs = references(rows, metric)
    title = metric_title(metric)
    named = ", ".join(f"{REFERENCES[k]}: *{v}*" for k, v in refs.items() if k != "ensemble")
    lines = ["", "## Confidence intervals and paired tests", "",
             f"{title} per variant: mean over seeds [95 % t-interval of the mean over seeds, clipped to [0, 1]: how "
             "much the score moves with the training seed]."]
    if comparisons:
        rows_text = f"the {test_rows} test rows" if test_rows else "the test rows"
        lines += [f"Δ: the variant's mean {title} minus the reference's [95 % percentile interval], and p: a "
                  f"paired bootstrap over test rows ({resamples} resamples, each drawing {rows_text} with replacement, "
                  f"the same rows for every run; a variant's {title} on a resample is the mean over its seeds). p is "
                  "two-sided: "
                  "twice the smaller share of resamples with Δ ≤ 0 or Δ ≥ 0, (count + 1) / (resamples + 1), so the "
                  f"smallest possible is {2 / (resamples + 1):.3f}; p-values are not corrected for multiple "
                  f"comparisons. References: {named}."]
    elif resamples > 0:
        lines += ["No paired tests: the runs have no readable per-sample test predictions, or were evaluated on "
                  "different test rows."]
    shown = [k for k in refs if any(key[1] == refs[k] for key in comparisons)]
    header = ["variant", "seeds", f"{title} [95 % CI]"]
    for kind in shown:
        header += [f"Δ vs {REFERENCES[kind]} [95 % CI]", "p"]
    table = []
    for row in rows:
        cells = [row["variant"], str(row["seeds"]), interval(row[metric])]
        for kind in shown:
            found = comparisons.get((row["variant"], refs[kind]))
            cells += (["(reference)", ""] if row["variant"] == refs[kind] else
                      [f"{found.difference:+.4f} [{found.low:+.4f}, {found.high:+.4f}]", _p(found.p_value)]
                      if found else ["–", "–"])
        table.append(cells)
    return [*lines, "", *markdown_table(header, table)]


def summary_rows(rows: Sequence[dict[str, Any]], metrics: Sequence[str],
                 comparisons: Mapping[tuple[str, str], Comparison], metric: str) -> list[dict[str, Any]]:
    """results_summary.csv: one row per variant, every metric's mean, std and t-interval, and the paired tests."""
    refs = references(rows, metric)
    out = []
    for row in rows:
        line: dict[str, Any] = {"variant": row["variant"], "kind": row["kind"], "seeds": row["seeds"]}
        for m in dict.fromkeys([*metrics, metric]):
            mean, low, high = t_interval(row[m])
            line |= {f"{m}_mean": mean, f"{m}_std": mean_std(row[m])[1], f"{m}_ci_low": low, f"{m}_ci_high": high}
        for kind, reference in refs.items():
            found = comparisons.get((row["variant"], reference))
            key = f"vs_{kind}"
            line |= {key: reference, f"{key}_difference": found.difference if found else "",
                     f"{key}_ci_low": found.low if found else "", f"{key}_ci_high": found.high if found else "",
                     f"{key}_p": found.p_value if found else ""}
        out.append(line)
    return out


def _p(value: float) -> str:
    return "< 0.001" if value < 0.001 else f"{value:.3f}"
