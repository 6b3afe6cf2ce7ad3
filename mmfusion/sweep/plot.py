"""results.png: the ranking metric (and a second one) per variant, with 95 % t-intervals over seeds."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..tasks.definitions import metric_title
from .stats import t_interval

RANKED, SECOND, BASELINE, ENSEMBLE = "#4c72b0", "#dd8452", "#9a9a9a", "#5f5f5f"


def results_figure(rows: Sequence[dict[str, Any]], rank_by: str = "accuracy") -> Any:
    """``rank_by`` and macro-F1 per variant (error bars: 95 % t-intervals over seeds); single-input baselines in
    grey, the unimodal ensemble in dark grey. The legend sits to the right of the axes, so it never covers a bar
    however tall the bars are."""
    from matplotlib.patches import Patch

    from ..plots import new_figure

    names = [r["variant"] for r in rows]
    x = np.arange(len(rows))
    fig = new_figure(figsize=(max(6, 1.1 * len(rows) + 2), 4.2))
    ax = fig.subplots()
    second = "macro_f1" if rank_by != "macro_f1" else "accuracy"
    shown = [(-0.2, rank_by), (0.2, second)] if all(second in r for r in rows) else [(0.0, rank_by)]
    for offset, key in shown:
        intervals = [t_interval(r[key]) for r in rows]
        means = [mean for mean, _, _ in intervals]
        errors = [0.0 if np.isnan(high) else high - mean for mean, _, high in intervals]
        colours = [_colour(r, key == rank_by) for r in rows]
        ax.bar(x + offset, means, width=0.4, yerr=errors, capsize=3, color=colours,
               alpha=1.0 if key == rank_by else 0.75)
    ax.set_xticks(x, labels=names, rotation=30, ha="right")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("test score (mean, 95 % CI over seeds)")
    ax.set_title("Fusion ablation")
    handles = [Patch(color=RANKED, label=metric_title(rank_by))]
    if len(shown) > 1:
        handles.append(Patch(color=SECOND, alpha=0.75, label=metric_title(second)))
    handles.append(Patch(color=BASELINE, label="single-input baseline"))
    if any(r["kind"] == "ensemble" for r in rows):
        handles.append(Patch(color=ENSEMBLE, label="unimodal ensemble"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    return fig


def _colour(row: dict[str, Any], ranked: bool) -> str:
    return {"single": BASELINE, "ensemble": ENSEMBLE}.get(row["kind"], RANKED if ranked else SECOND)
