"""PNG plots: training curves, confusion matrix, robustness, class probabilities, reliance on inputs, reliability.

Figures are built with matplotlib's object-oriented API (:class:`matplotlib.figure.Figure` on its own
Agg canvas), never through pyplot: a library must not switch the caller's backend (a notebook's
inline plots) nor leave figures in pyplot's list of open figures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np


def new_figure(**kwargs: Any) -> Any:
    """A figure on its own Agg canvas: no pyplot, no global backend, nothing to close."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(**kwargs)
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Any, path: Path) -> Path:
    from .io import write_atomic

    write_atomic(path, lambda tmp: fig.savefig(tmp, dpi=120, bbox_inches="tight", format="png"))
    return path


def training_curves(history: Sequence[Mapping[str, Any]], path: Path) -> Path:
    """Loss (train, validation) and the validation metrics of the task per epoch."""
    from .tasks.definitions import ALL_METRICS, metric_title

    epochs = [row["epoch"] for row in history]
    fig = new_figure(figsize=(11, 4))
    ax_loss, ax_metric = fig.subplots(1, 2)
    ax_loss.plot(epochs, [row["train_loss"] for row in history], marker="o", label="train")
    if any(row.get("val_loss") is not None for row in history):
        ax_loss.plot(epochs, [row.get("val_loss") for row in history], marker="o", label="validation")
    ax_loss.set(xlabel="epoch", ylabel="loss", title="Loss")
    ax_loss.legend()
    for key, label in ((f"val_{m}", f"validation {metric_title(m)}") for m in ALL_METRICS):
        if any(row.get(key) is not None for row in history):
            ax_metric.plot(epochs, [row.get(key) for row in history], marker="o", label=label)
    ax_metric.set(xlabel="epoch", ylim=(0, 1.02), title="Validation metrics")
    ax_metric.legend()
    for ax in (ax_loss, ax_metric):
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    return save_figure(fig, path)


def confusion_matrix_plot(matrix: np.ndarray, names: Sequence[str], path: Path, title: str = "Confusion matrix"
                          ) -> Path:
    """Counts with row-normalised colours (true label down, predicted across)."""
    size = max(4.5, 0.55 * len(names) + 2)
    fig = new_figure(figsize=(size + 1, size))
    ax = fig.subplots()
    rows = matrix.sum(axis=1, keepdims=True)
    normalised = np.divide(matrix, rows, out=np.zeros_like(matrix, dtype=float), where=rows > 0)
    image = ax.imshow(normalised, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(names)), labels=names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), labels=names)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    for i, j in zip(*np.nonzero(matrix)):
        ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=8,
                color="white" if normalised[i, j] > 0.5 else "black")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="fraction of true label")
    return save_figure(fig, path)


def per_label_f1_plot(per_class: Mapping[str, Any], names: Sequence[str], path: Path, title: str = "F1 per label"
                      ) -> Path:
    """Multilabel: one bar per label (its F1 at its threshold), with the label's support in the test rows."""
    fig = new_figure(figsize=(max(4.5, 0.6 * len(names) + 2), 3.8))
    ax = fig.subplots()
    values = [float(per_class.get(name, {}).get("f1-score", 0.0)) for name in names]
    bars = ax.bar(list(names), values, color="#4c72b0")
    ax.bar_label(bars, labels=[f"{v:.2f}\n(n={int(per_class.get(n, {}).get('support', 0))})"
                               for v, n in zip(values, names)], padding=2, fontsize=8)
    ax.set_xticks(range(len(names)), labels=list(names), rotation=45, ha="right")
    ax.set(ylim=(0, 1.2), ylabel="F1", title=title)
    return save_figure(fig, path)


def robustness_plot(rows: Sequence[Mapping[str, Any]], path: Path, metric: str = "accuracy") -> Path:
    """Bars of a metric with all modalities and with each one removed."""
    from .tasks.definitions import metric_title

    fig = new_figure(figsize=(max(4, 1.3 * len(rows) + 1), 3.6))
    ax = fig.subplots()
    names = [row["condition"] for row in rows]
    values = [row[metric] for row in rows]
    bars = ax.bar(names, values, color=["#4c72b0"] + ["#dd8452"] * (len(rows) - 1))
    ax.bar_label(bars, labels=[f"{v:.3f}" for v in values], padding=2)
    ax.set(ylim=(0, 1.08), ylabel=metric_title(metric), title=f"{metric_title(metric)} with modalities removed")
    return save_figure(fig, path)


def prediction_plot(image: Any, text: str | None, labels: Sequence[str], probabilities: Sequence[float], path: Path,
                    top: int = 10, explanation: Mapping[str, Any] | None = None) -> Path:
    """The input image (if any) beside a bar chart of the most likely classes; with ``explanation`` (a row's
    :func:`~mmfusion.inference.reliance.row_explanation` with its ``label``) a panel of each input's contribution
    to that label."""
    return save_figure(prediction_figure(image, text, labels, probabilities, top, explanation), path)


def prediction_figure(image: Any, text: str | None, labels: Sequence[str], probabilities: Sequence[float],
                      top: int = 10, explanation: Mapping[str, Any] | None = None) -> Any:
    """:func:`prediction_plot`'s figure."""
    order = np.argsort(probabilities)[::-1][:top]
    panels = (image is not None) + 1 + (explanation is not None)
    fig = new_figure(figsize=(4 + 3.5 * panels, 4))
    axes = np.atleast_1d(fig.subplots(1, panels))
    if image is not None:
        axes[0].imshow(image)
        axes[0].axis("off")
        if text:
            axes[0].set_title(text if len(text) < 60 else text[:57] + "...", fontsize=9)
    bar_ax = axes[1 if image is not None else 0]
    bar_ax.barh([labels[i] for i in order][::-1], [probabilities[i] for i in order][::-1], color="#4c72b0")
    bar_ax.set(xlim=(0, 1), xlabel="probability",
               title="Predicted classes" if image is not None or not text else text[:60])
    if explanation is not None:
        contributions_panel(axes[-1], explanation)
    fig.tight_layout()
    return fig


#: colours of contributions towards and against the explained label
TOWARDS, AGAINST = "#55a868", "#c44e52"


def contributions_panel(ax: Any, explanation: Mapping[str, Any]) -> None:
    """Horizontal bars of each input's contribution (green towards the label, red against), the baseline and
    the explained value they add up to written beneath."""
    names = list(explanation["contributions"])
    values = [explanation["contributions"][m] for m in names]
    bars = ax.barh(names[::-1], values[::-1], color=[TOWARDS if v >= 0 else AGAINST for v in values[::-1]])
    ax.bar_label(bars, labels=[f"{v:+.2f}" for v in values[::-1]], padding=2, fontsize=8)
    ax.axvline(0, color="0.3", linewidth=0.8)
    span = max([abs(v) for v in values] + [1e-6]) * 1.35
    ax.set_xlim(-span, span)
    ax.set(xlabel=f"contribution to '{explanation['label']}'", title="Which input decided")
    ax.text(0.02, 0.02, f"without any input {explanation['baseline']:+.2f}\nwith them {explanation['value']:+.2f}",
            transform=ax.transAxes, fontsize=8, va="bottom")


def reliance_plot(found: Mapping[str, Any], path: Path, title: str = "Reliance on each input") -> Path:
    """Each class's (and all rows') share of the attribution per input, as stacked bars summing to 1."""
    return save_figure(reliance_figure(found, title), path)


def reliance_figure(found: Mapping[str, Any], title: str = "Reliance on each input") -> Any:
    """:func:`reliance_plot`'s figure, from :func:`~mmfusion.inference.reliance.reliance`'s result."""
    from matplotlib import colormaps

    inputs = list(found["inputs"])
    rows = [("all rows", found["rows"], found["share"])] + [
        (c["class"], c["rows"], c["share"]) for c in found["per_class"]]
    names = [f"{name} ({count})" for name, count, _ in rows][::-1]
    fig = new_figure(figsize=(7, max(2.6, 0.32 * len(rows) + 1.6)))
    ax = fig.subplots()
    left = np.zeros(len(rows))
    colours = colormaps["tab10"].colors
    for k, m in enumerate(inputs):
        shares = np.array([share.get(m, 0.0) for _, _, share in rows][::-1])
        ax.barh(names, shares, left=left, color=colours[k % len(colours)], label=m)
        left += shares
    ax.set(xlim=(0, 1), xlabel="share of the attribution (rows in brackets)", title=title)
    ax.legend(loc="lower right", fontsize=8, framealpha=0.9)
    fig.tight_layout()
    return fig


def reliability_plot(bins: Any, metrics: Mapping[str, float], path: Path, title: str = "Reliability") -> Path:
    """The reliability diagram: each bin's observed frequency against its mean probability (the diagonal is
    perfect calibration), the bins' shares of the rows beneath."""
    return save_figure(reliability_figure(bins, metrics, title), path)


def reliability_figure(bins: Any, metrics: Mapping[str, float], title: str = "Reliability") -> Any:
    """:func:`reliability_plot`'s figure, from :class:`~mmfusion.tasks.calibration.ReliabilityBins`."""
    fig = new_figure(figsize=(5, 5.6))
    ax, hist = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    ax.plot([0, 1], [0, 1], linestyle="--", color="0.5", label="perfect calibration")
    ax.plot(bins.confidence, bins.frequency, marker="o", color="#4c72b0",
            label=f"model (ECE {metrics.get('ece', float('nan')):.3f})")
    ax.set(xlim=(0, 1), ylim=(0, 1), ylabel="observed frequency", title=title)
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    total = max(int(np.sum(bins.counts)), 1)
    hist.bar(bins.confidence, np.asarray(bins.counts) / total, width=0.05, color="#4c72b0")
    hist.set(xlabel=f"predicted probability ({bins.of})", ylabel="share of rows")
    fig.tight_layout()
    return fig


def corruption_curves_plot(rows: Sequence[Mapping[str, Any]], path: Path, *, series: str | None = None,
                           order: Sequence[Any] = (), dashed: Sequence[Any] = (), metric: str = "accuracy") -> Path:
    """``metric`` against corruption intensity, one panel per (modality, corruption) of ``rows``; with ``series``
    (e.g. "variant") one line per value of that key, in legend ``order`` (others follow, sorted), the ``dashed``
    ones (e.g. single-input baselines) dashed in grey tones."""
    from matplotlib import colormaps
    from matplotlib.lines import Line2D

    from .tasks.definitions import metric_title

    panels = sorted({(r["modality"], r["corruption"]) for r in rows})
    present = {r[series] for r in rows} if series else {None}
    names: list[Any] = [n for n in order if n in present] + sorted(present - set(order), key=str)
    # one colour and marker per series in every panel, so a variant reads the same everywhere
    coloured = [n for n in names if n not in dashed]
    palette = colormaps["tab10" if len(coloured) <= 9 else "tab20"].colors
    colours = [c for c in palette if len(set(c[:3])) > 1]  # the palette's greys are for the dashed series
    greys = ("0.45", "0.65", "0.3", "0.55")
    markers = "osD^vP*Xh<>p"
    style = {name: (greys[dashed.index(name) % len(greys)], markers[i % len(markers)], "--") if name in dashed
             else (colours[coloured.index(name) % len(colours)], markers[i % len(markers)], "-")
             for i, name in enumerate(names)}
    columns = min(3, len(panels))
    lines = (len(panels) + columns - 1) // columns
    fig = new_figure(figsize=(4.2 * columns, 3.4 * lines))
    axes = fig.subplots(lines, columns, squeeze=False)
    for ax, (modality, corruption) in zip(axes.flat, panels):
        points = [r for r in rows if r["modality"] == modality and r["corruption"] == corruption]
        for name in names:
            mine = sorted((r for r in points if series is None or r[series] == name), key=lambda r: r["intensity"])
            if not mine:
                continue
            colour, marker, line = style[name]
            ax.plot([r["intensity"] for r in mine], [r[metric] for r in mine], marker=marker, color=colour,
                    linestyle=line, label=name)
        ax.set(title=f"{modality}: {corruption}", xlabel="intensity", ylabel=metric_title(metric), ylim=(0, 1.02))
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.tight_layout()
    if series:
        handles = [Line2D([], [], color=c, marker=m, linestyle=ls, label=str(n)) for n, (c, m, ls) in style.items()]
        fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, title=series)
    return save_figure(fig, path)
