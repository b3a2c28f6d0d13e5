"""Figure 5: the E-I differences emerge early in training (Standard).

Columns: (a) orientation skewness, (b) image skewness of PN, IG and OG, (c) density of PN->PN,
IG->PN and OG->PN; rows: area 3 (top) and area 4 (bottom); x = training epoch of each exported
SavedModel. Lines: mean over networks; bands: 95% bootstrap CI.
"""

import numpy as np
from matplotlib.ticker import ScalarFormatter

from ei_tf.analysis.runs import Need
from ei_tf.analysis.summary import connection_density, mean_ci, population_mean
from ei_tf.figures.common import (CELL_COLORS, METRIC_LABELS, PALETTE, connection_label, new_figure,
                                  panel_label)
from ei_tf.figures.panels import area_title

TITLE = "E-I differences emerge early in training (Standard)"
STANDARD = Need("fig2_standard", analysis="all")
AREAS = ("area3", "area4")
CELLS = ("PN", "IG", "OG")
CONNECTIONS = ("PN_to_PN", "IG_to_PN", "OG_to_PN")


def needs():
    return [STANDARD]


def _curve(ax, per_run, value, label, color):
    epochs = sorted({e for run in per_run for e in run})
    stats = np.array([mean_ci([value(run[e]) for run in per_run if e in run]) for e in epochs])
    x = np.asarray(epochs, float)
    ax.plot(x, stats[:, 0], "-o", ms=2.5, color=color, label=label)
    ax.fill_between(x, stats[:, 1], stats[:, 2], color=color, alpha=0.2, lw=0)


def render(ctx):
    per_run = [ctx.all_epochs(run) for run in ctx.runs_for(STANDARD)]
    fig = new_figure(9.0, 5.0)
    axes = fig.subplots(2, 3)
    for row, area in enumerate(AREAS):
        for col, metric in enumerate(("orientation_skewness", "image_skewness")):
            ax = axes[row, col]
            for cell in CELLS:
                _curve(ax, per_run, lambda r, c=cell, m=metric, a=area: population_mean(
                    r, f"{a}_{c}", m), cell, CELL_COLORS[cell])
            ax.set_ylabel(f"{METRIC_LABELS[metric]}\n{area_title(area)}")
        ax = axes[row, 2]
        for k, kind in enumerate(CONNECTIONS):
            _curve(ax, per_run, lambda r, c=kind, a=area: connection_density(r, f"{a}_{c}"),
                   connection_label(kind), PALETTE[k])
        ax.set_ylabel(f"{METRIC_LABELS['density']}\n{area_title(area)}")
        for ax in axes[row]:
            ax.set_xscale("symlog", linthresh=1.0)
            ax.xaxis.set_major_formatter(ScalarFormatter())
            ax.set_xlabel("Epoch")
            ax.legend(fontsize=6, frameon=False)
    for ax, letter in zip(axes[0], "abc"):
        panel_label(ax, letter)
    fig.suptitle(TITLE, fontsize=9)
    fig.tight_layout()
    return fig
