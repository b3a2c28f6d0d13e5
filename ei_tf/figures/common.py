"""The plotting conventions every figure module shares: colours, labels, the paper's style,
and the panel types (grouped bars, Figure 4 scatter, E x I heatmaps, weight histograms).

Which runs a figure needs and how they are loaded is :mod:`ei_tf.analysis.runs`; the summary
quantities it plots and their confidence intervals are :mod:`ei_tf.analysis.summary`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap

from ei_tf.analysis.runs import Run
from ei_tf.analysis.summary import EXPERIMENT_DENSITY_DIFF, EXPERIMENT_SKEW_DIFF, mean_ci

# Colours: cell types, and network variants (Figure 7: blue / green / orange).
CELL_COLORS = {"PN": "#1f5fa6", "E": "#1f5fa6", "IG": "#d1495b", "OG": "#edae49",
               "I": "#d1495b", "Int": "#d1495b"}
VARIANT_COLORS = {"original": "#1f77b4", "InhPN": "#2ca02c", "NoConstraint": "#ff7f0e"}
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf"]
METRIC_LABELS = {"gosi": "gOSI", "orientation_skewness": "Orientation skewness",
                 "image_skewness": "Image skewness", "density": "Connection density"}
MISSING_COLOR = "0.9"  # grid cells of a partial figure that have no finished network
SKEW_DIFF_LABEL = "Image skewness difference\n(PN - Int)"
DENSITY_DIFF_LABEL = "Connection density difference\n(Int→PN - PN→PN)"


# The paper figures' style, in effect only while one is drawn and saved (:func:`style`).
STYLE = {"font.size": 8, "axes.spines.top": False, "axes.spines.right": False}


def style():
    """A context in which :data:`STYLE` holds (matplotlib's settings are restored after)."""
    return plt.rc_context(STYLE)


def _missing(values) -> str:
    """Why a partial figure has no value: no finished network, or networks whose quantity is
    undefined (e.g. silent neurons)."""
    return "undefined" if len(values) else "no runs"


def new_figure(width: float, height: float):
    return plt.figure(figsize=(width, height))


def panel_label(ax, letter: str) -> None:
    ax.text(-0.18, 1.06, letter, transform=ax.transAxes, fontsize=11, fontweight="bold",
            va="bottom", ha="left")


def panel_axes(fig) -> list:
    """The data panels of a figure (colour bars excluded)."""
    return [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]


def bars(ax, groups: Sequence[str], series: Sequence[tuple], ylabel: str = "",
         title: str = "") -> None:
    """Grouped bars: one group per label in ``groups``; ``series`` is a list of ``(name,
    colour, [per-group list of per-network values])``. Bar = mean over networks, error bar =
    95% bootstrap CI, dots = individual networks."""
    n = max(len(series), 1)
    width = 0.8 / n
    x = np.arange(len(groups))
    for s, (name, color, per_group) in enumerate(series):
        offs = x - 0.4 + width * (s + 0.5)
        means, lows, highs = [], [], []
        for values in per_group:
            m, lo, hi = mean_ci(values)
            means.append(m), lows.append(lo), highs.append(hi)
        means, lows, highs = map(np.asarray, (means, lows, highs))
        # clipped: with identical values the bootstrap bounds may differ from the mean by
        # rounding only
        err = np.clip(np.vstack([np.nan_to_num(means - lows), np.nan_to_num(highs - means)]),
                      0.0, None)
        ax.bar(offs, np.nan_to_num(means), width * 0.9, color=color, alpha=0.85, label=name,
               yerr=err, capsize=2, error_kw={"elinewidth": 0.8})
        for xo, values in zip(offs, per_group):
            v = np.asarray(values, np.float64)
            v = v[np.isfinite(v)]
            ax.plot(np.full(v.shape, xo), v, "o", ms=2, color="k", alpha=0.35)
            if v.size == 0:  # a partial figure: say why the bar is missing
                ax.text(xo, 0.0, _missing(values), rotation=90, ha="center", va="bottom",
                        fontsize=6, color="0.45", transform=ax.get_xaxis_transform())
    ax.set_xticks(x)
    ax.set_xticklabels(groups, rotation=0 if max(map(len, groups or [""])) < 8 else 35,
                       ha="center" if max(map(len, groups or [""])) < 8 else "right")
    if ylabel:
        ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)


def summary_scatter(ax, entries: Sequence[tuple], experiment: bool = True,
                    legend: bool = True) -> None:
    """Figure 4 style: ``entries`` = ``[(label, colour, marker, [(x, y) per network])]``;
    light symbols are networks, dark symbols their average; the experimental estimate is a
    black star."""
    for label, color, marker, points in entries:
        pts = np.asarray([p for p in points if np.all(np.isfinite(p))], np.float64)
        if pts.size == 0:
            ax.plot([], [], marker, color=color, label=f"{label} ({_missing(points)})")
            continue
        ax.plot(pts[:, 0], pts[:, 1], marker, color=color, alpha=0.3, ms=5, mec="none")
        mean = pts.mean(axis=0)
        ax.plot([mean[0]], [mean[1]], marker, color=color, ms=8, mec="k", mew=0.5,
                label=label)
    if experiment:
        ax.plot([EXPERIMENT_SKEW_DIFF], [EXPERIMENT_DENSITY_DIFF], "*", color="k", ms=11,
                label="Experiment")
    ax.axhline(0, color="0.7", lw=0.6, zorder=0)
    ax.axvline(0, color="0.7", lw=0.6, zorder=0)
    ax.set_xlabel(SKEW_DIFF_LABEL)
    ax.set_ylabel(DENSITY_DIFF_LABEL)
    if legend:
        ax.legend(fontsize=6, frameon=False, loc="best")


def grid_axes(runs: Sequence[Run]) -> tuple[list[int], list[int]]:
    """Sorted E and I channel counts (area 3) of ``e<E>_i<I>`` sweep points."""
    channels = [run.channels for run in runs if run.channels]
    return sorted({e for e, _ in channels}), sorted({i for _, i in channels})


def grid_values(runs: Sequence[Run], value_of, reduce=np.nanmean,
                declared: Sequence[Run] = ()) -> tuple:
    """``(E counts, I counts, [len(I), len(E)] array)`` of ``reduce`` over the seeds of each
    grid point of ``value_of(run)``; the axes span ``runs`` and the ``declared`` (planned)
    runs, so that a partial grid keeps its unfinished cells (NaN)."""
    es, is_ = grid_axes([*runs, *declared])
    cells: dict = {}
    for run in runs:
        if run.channels:
            cells.setdefault(run.channels, []).append(value_of(run))
    grid = np.full((len(is_), len(es)), np.nan)
    for (e, i), values in cells.items():
        values = np.asarray(values, np.float64)
        if np.isfinite(values).any():
            grid[is_.index(i), es.index(e)] = reduce(values)
    return es, is_, grid


def empty_panel(ax, reason: str = "no runs") -> None:
    """A partial figure's panel that has nothing to draw: says why, without ticks."""
    ax.text(0.5, 0.5, reason, ha="center", va="center", color="0.45", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def heatmap(fig, ax, es, is_, grid, title: str, cbar_label: str, mask=None, missing=None,
            cmap: str = "viridis", vmin=None, vmax=None) -> None:
    """E channels on x, I channels on y; ``mask`` (same shape, True) marks cells with a cross
    (networks below the accuracy bar); ``missing`` (same shape, True) greys the cells that
    have no finished network yet (a partial figure), labelled "no runs" in a small grid."""
    ax.set_xlabel("E channels (area 3)")
    ax.set_ylabel("I channels (area 3)")
    ax.set_title(title)
    if not np.isfinite(grid).any():  # a partial figure: no grid point has a value
        nothing_ran = grid.size == 0 or (missing is not None and missing.all())
        empty_panel(ax, "no runs" if nothing_ran else "undefined")
        return
    image = ax.imshow(np.ma.masked_invalid(grid), origin="lower", cmap=cmap, aspect="auto",
                      vmin=vmin, vmax=vmax)
    ax.set_xticks(range(len(es)))
    ax.set_xticklabels([str(e) for e in es], fontsize=6)
    ax.set_yticks(range(len(is_)))
    ax.set_yticklabels([str(i) for i in is_], fontsize=6)
    if missing is not None and missing.any():
        ax.imshow(np.ma.masked_where(~missing, np.zeros_like(grid)), origin="lower",
                  cmap=ListedColormap([MISSING_COLOR]), aspect="auto")
        if grid.size <= 16:
            for y, x in zip(*np.nonzero(missing)):
                ax.text(x, y, "no runs", ha="center", va="center", fontsize=6, color="0.45")
    if mask is not None:
        ys, xs = np.nonzero(mask)
        ax.plot(xs, ys, "x", color="w", ms=4, mew=0.8)
    bar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.03)
    bar.set_label(cbar_label)


def weight_histogram(ax, results_entries: Sequence[dict], bins: Sequence[float], title: str,
                     color: str = "0.3") -> None:
    """Distribution of log connection weights (channel-to-channel, natural log) summed over
    connection entries; the threshold exp(-10) is a blue line."""
    edges = np.asarray(bins, np.float64)
    counts = np.zeros(len(edges) - 1)
    for entry in results_entries:
        counts += np.asarray(entry["log_weight_hist"]["counts"], np.float64)
    total = counts.sum()
    frac = counts / total if total else counts
    ax.stairs(frac, edges, fill=True, color=color, alpha=0.8)
    ax.axvline(-10.0, color="tab:blue", lw=1.2)
    ax.set_xlabel("log(connection weight)")
    ax.set_ylabel("Proportion")
    ax.set_title(title)
    finite = np.nonzero(counts)[0]
    if finite.size:
        lo, hi = edges[max(finite[0] - 2, 0)], edges[min(finite[-1] + 3, len(edges) - 1)]
        ax.set_xlim(min(lo, -14.0), max(hi, -6.0))


def save(fig, out_dir, number: int) -> list[Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"fig{number}.png", out_dir / f"fig{number}.pdf"]
    fig.savefig(paths[0], dpi=150, bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight")
    plt.close(fig)
    return paths


def arrow(pre: str, post: str) -> str:
    return f"{pre}→{post}"


def connection_label(kind: str) -> str:
    pre, post = kind.split("_to_")
    return arrow(pre, post)

