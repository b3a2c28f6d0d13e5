"""Panel types that several figures share (bars by area and cell type, weight histograms,
tuning curves, E-I summary scatters, accuracy bars, channel-grid heatmaps).

Each draws on a given matplotlib Axes and changes no global setting."""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import numpy as np

from ei_tf.analysis.runs import Context, Need
from ei_tf.analysis.summary import (connection_density, ei_difference, family_types, pooled_density,
                                    pooled_mean, population_mean, recurrent_areas)
from ei_tf.figures.common import (CELL_COLORS, METRIC_LABELS, PALETTE, bars, connection_label,
                                  empty_panel, grid_values, heatmap, summary_scatter,
                                  weight_histogram)
from ei_tf.stimuli import ORIENTATIONS_DEG


def area_title(area: str) -> str:
    return f"Area {area[4:]}" if area.startswith("area") else area


def _value(result: dict, area: str, item: str, metric: str) -> float:
    if metric == "density":
        return connection_density(result, f"{area}_{item}")
    return population_mean(result, f"{area}_{item}", metric)


def by_area(ax, results: Sequence[dict], metric: str, items: Sequence[str],
            areas: Optional[Sequence[str]] = None, title: str = "") -> None:
    """One network type: groups = areas, one bar series per cell type (or connection type
    when ``metric`` is ``density``), mean and 95% bootstrap CI over networks."""
    areas = list(areas) if areas is not None else (recurrent_areas(results[0]) if results
                                                   else [])
    if not areas:  # a partial figure: no finished network of this type
        ax.set_ylabel(METRIC_LABELS[metric])
        ax.set_title(title)
        empty_panel(ax)
        return
    series = []
    for k, item in enumerate(items):
        name = connection_label(item) if metric == "density" else item
        color = CELL_COLORS.get(item, PALETTE[k % len(PALETTE)]) if metric != "density" \
            else PALETTE[k % len(PALETTE)]
        series.append((name, color, [[_value(r, a, item, metric) for r in results]
                                     for a in areas]))
    bars(ax, [area_title(a) for a in areas], series, METRIC_LABELS[metric], title)
    low, high = ax.get_ylim()
    ax.set_ylim(low, high + 0.4 * (high - low))  # room for the legend above the bars
    ax.legend(fontsize=6, frameon=False, loc="upper center", ncol=min(len(items), 2))


def compare_models(ax, models: Sequence[tuple], area: str, metric: str,
                   items: Sequence[str], title: str = "") -> None:
    """Several network types in one area: groups = cell (or connection) types, one series
    per model; ``models`` = ``[(name, colour, results)]``."""
    groups = [connection_label(i) if metric == "density" else i for i in items]
    series = [(name, color, [[_value(r, area, item, metric) for r in results]
                             for item in items]) for name, color, results in models]
    bars(ax, groups, series, METRIC_LABELS[metric], title)


def selectivity_row(axes, results: Sequence[dict], letters: str = "abc") -> None:
    """Figure 2's three panels (gOSI, orientation skewness, image skewness) by area and cell
    type."""
    types = family_types(results[0]) if results else family_types({})
    cells = [types["pn"], *types["int"]]
    for ax, metric in zip(axes, ("gosi", "orientation_skewness", "image_skewness")):
        by_area(ax, results, metric, cells)


def histograms_and_density(axes_hist, ax_density, results: Sequence[dict],
                           hist_kinds: Sequence[Optional[str]], density_kinds: Sequence[str],
                           area: str = "area3") -> None:
    """Figure 3: weight distributions of one network in ``area`` (``None`` in ``hist_kinds``
    = every recurrent connection), and the densities across networks and areas."""
    for ax, kind in zip(axes_hist, hist_kinds):
        connection_histogram(ax, results[0], kind, area)
    by_area(ax_density, results, "density", density_kinds)


def connection_histogram(ax, result: dict, kind: Optional[str], area: str = "area3") -> None:
    """Figure 3a-d for one network: the distribution of log connection weights of connection
    type ``kind`` (e.g. ``PN_to_PN``; None = every recurrent connection) in ``area``."""
    connections = result["connections"]
    if kind is None:
        entries = [e for k, e in connections.items() if k.startswith(area + "_")]
        title = f"All connections ({area_title(area)})"
    else:
        entries = [connections[f"{area}_{kind}"]] if f"{area}_{kind}" in connections else []
        title = connection_label(kind)
    weight_histogram(ax, entries, result["log_weight_bins"], title)


def example_neurons(entry: dict, count: int = 3) -> list[int]:
    """Indices of ``count`` responsive neurons of one population's analysis entry, from the
    highest through the median to the lowest gOSI."""
    values = np.array([np.nan if v is None else v for v in entry["gosi"]["values"]])
    order = [int(i) for i in np.argsort(-np.nan_to_num(values, nan=-np.inf))
             if np.isfinite(values[i])]
    if len(order) <= count:
        return order
    picks = np.linspace(0, len(order) - 1, count).round().astype(int)
    return [order[p] for p in picks]


def tuning_curves(ax, entry: dict, neurons: Sequence[int], color=None) -> None:
    """Figure 8b: orientation tuning curves of ``neurons`` of one population's analysis entry,
    each over the 18 orientations at the neuron's preferred spatial frequency and phase
    (Appendix C), labelled with its gOSI (eq. 3)."""
    gosi = entry["gosi"]["values"]
    for j in neurons:
        label = f"#{j} gOSI {gosi[j]:.2f}" if gosi[j] is not None else f"#{j} (silent)"
        ax.plot(ORIENTATIONS_DEG, entry["tuning"][j], "-o", ms=2, color=color, label=label)
    ax.set_xticks([0, 90, 170])


def ei_points(ctx: Context, need: Need, areas: Optional[Sequence[str]] = None) -> list:
    """Per network of ``need``: Figure 4's (skewness difference, density difference)."""
    return [ei_difference(r, areas) for r in ctx.finals(need)]


def scatter_groups(ax, ctx: Context, groups: Sequence[tuple], areas=None,
                   experiment: bool = True, legend: bool = True) -> None:
    """``groups`` = ``[(label, colour, marker, Need)]``."""
    entries = [(label, color, marker, ei_points(ctx, need, areas))
               for label, color, marker, need in groups]
    summary_scatter(ax, entries, experiment=experiment, legend=legend)


def accuracy_bars(ax, ctx: Context, models: Sequence[tuple], title: str = "",
                  ylabel: str = "Test accuracy") -> None:
    """``models`` = ``[(label, colour, Need)]``: mean test accuracy, 95% CI, networks."""
    bars(ax, [m[0] for m in models],
         [("", None, [ctx.accuracies(need) for _, _, need in models])], ylabel, title)
    for patch, (_, color, _) in zip(ax.patches, models):
        patch.set_facecolor(color)
    ax.set_ylim(0, 1)
    ax.axhline(0.1, color="0.6", lw=0.6, ls=":")


def grid_heatmap(fig, ax, ctx: Context, need: Need, value_of: Callable, title: str,
                 cbar_label: str, reduce=np.nanmean, accuracy_bar: Optional[float] = None,
                 **kwargs) -> None:
    """E x I grid of ``reduce`` over seeds of ``value_of(run)``, spanning every point the
    config declares (a partial figure greys the points not finished yet); with
    ``accuracy_bar``, cells whose mean accuracy is below it are crossed."""
    runs, declared = ctx.runs_for(need), ctx.declared(need)
    es, is_, grid = grid_values(runs, value_of, reduce, declared)
    finished = {run.channels for run in runs}
    missing = np.array([[(e, i) not in finished for e in es] for i in is_], bool)
    mask = None
    if accuracy_bar is not None:
        _, _, acc = grid_values(runs, ctx.accuracy, declared=declared)
        mask = np.isfinite(acc) & (acc < accuracy_bar)
    heatmap(fig, ax, es, is_, grid, title, cbar_label, mask=mask,
            missing=missing.reshape(grid.shape), **kwargs)


def pn_skew(ctx: Context):
    def value(run):
        r = ctx.final(run)
        return pooled_mean(r, recurrent_areas(r), [family_types(r)["pn"]], "image_skewness")
    return value


def int_skew(ctx: Context):
    def value(run):
        r = ctx.final(run)
        return pooled_mean(r, recurrent_areas(r), family_types(r)["int"], "image_skewness")
    return value


def pn_pn_density(ctx: Context):
    def value(run):
        r = ctx.final(run)
        return pooled_density(r, recurrent_areas(r), [family_types(r)["pn_pn"]])
    return value


def int_pn_density(ctx: Context):
    def value(run):
        r = ctx.final(run)
        return pooled_density(r, recurrent_areas(r), family_types(r)["int_pn"])
    return value


def detailed_comparison(ctx: Context, models: Sequence[tuple], title: str):
    """Figures 13 and 14: ``models`` = ``[(name, colour, Need)]`` compared on gOSI (a),
    orientation skewness (b), image skewness (c) and connection density (d), area 3 (left)
    and area 4 (right)."""
    from ei_tf.figures.common import new_figure, panel_label

    loaded = [(name, color, ctx.finals(need)) for name, color, need in models]
    types = family_types(loaded[0][2][0]) if loaded and loaded[0][2] else family_types({})
    cells = [types["pn"], *types["int"]]
    fig = new_figure(8.0, 10.0)
    axes = fig.subplots(4, 2)
    metrics = ("gosi", "orientation_skewness", "image_skewness", "density")
    for row, metric in enumerate(metrics):
        items = types["connections"] if metric == "density" else cells
        for col, area in enumerate(("area3", "area4")):
            compare_models(axes[row, col], loaded, area, metric, items,
                           area_title(area) if row == 0 else "")
        panel_label(axes[row, 0], "abcd"[row])
    axes[0, 1].legend(fontsize=7, frameon=False)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
