"""Figure 17: networks without inhibitory neurons, with and without BatchNorm.

(a) accuracy of Standard and StandardEI with and without I channels; (b) the same without
BatchNorm (NoNorm); (c) accuracy over the E x I channel grids (I = 0, 1, 2-256) of the NoNorm
networks: maximum (left) and mean (right) over the five seeds, Standard (top) and StandardEI
(bottom); (d) Figure 7 for the NoNorm networks and their InhPN and NoConstraint variants,
area 3 (left) and area 4 (right).
"""

import numpy as np

from ei_tf.analysis.runs import Need
from ei_tf.figures.common import PALETTE, new_figure, panel_label
from ei_tf.figures.fig7 import render_variants, variant_groups
from ei_tf.figures.panels import accuracy_bars, grid_heatmap

TITLE = "The impact of having no inhibitory neurons"
WITH_BN = [("Standard", PALETTE[0], Need("fig2_standard", analysis=None)),
           ("Standard\nno Int", PALETTE[0], Need("fig17_standard_no_inh", analysis=None)),
           ("StandardEI", PALETTE[1], Need("fig4_standard_ei", analysis=None)),
           ("StandardEI\nno I", PALETTE[1], Need("fig17_standard_ei_no_inh", analysis=None))]
NO_BN = [("Standard\nNoNorm", PALETTE[0], Need("fig9c_no_pn_cell_bn", analysis=None)),
         ("Standard NoNorm\nno Int", PALETTE[0],
          Need("fig17_standard_nonorm_no_inh", analysis=None)),
         ("StandardEI\nNoNorm", PALETTE[1], Need("fig17_standard_ei_nonorm", analysis=None)),
         ("StandardEI NoNorm\nno I", PALETTE[1],
          Need("fig17_standard_ei_nonorm_no_inh", analysis=None))]
GRIDS = [("Standard NoNorm", Need("fig17_standard_nonorm_channel_grid", analysis=None)),
         ("StandardEI NoNorm", Need("fig17_standard_ei_nonorm_channel_grid", analysis=None))]
VARIANTS = [
    ("Standard NoNorm", "original", "o", "fig9c_no_pn_cell_bn"),
    ("Standard NoNorm InhPN", "InhPN", "o", "fig17_standard_nonorm_inhpn"),
    ("Standard NoNorm NoConstraint", "NoConstraint", "o", "fig17_standard_nonorm_noconstraint"),
    ("StandardEI NoNorm", "original", "^", "fig17_standard_ei_nonorm"),
    ("StandardEI NoNorm InhPN", "InhPN", "^", "fig17_standard_ei_nonorm_inhpn"),
    ("StandardEI NoNorm NoConstraint", "NoConstraint", "^",
     "fig17_standard_ei_nonorm_noconstraint"),
]


def needs():
    return ([m[2] for m in WITH_BN + NO_BN] + [need for _, need in GRIDS]
            + [g[3] for g in variant_groups(VARIANTS)])


def render(ctx):
    fig = new_figure(14.0, 10.0)
    spec = fig.add_gridspec(3, 5, height_ratios=[1, 1, 1], width_ratios=[1, 1, 0.12, 1, 1],
                            hspace=0.6, wspace=0.6)
    ax_a = fig.add_subplot(spec[0, 0:2])
    ax_b = fig.add_subplot(spec[0, 3:5])
    accuracy_bars(ax_a, ctx, WITH_BN, "With BatchNorm")
    accuracy_bars(ax_b, ctx, NO_BN, "Without BatchNorm (NoNorm)")
    panel_label(ax_a, "a")
    panel_label(ax_b, "b")
    grid_axes = []
    for row, (name, need) in enumerate(GRIDS):
        for col, (label, reduce) in enumerate((("max", np.nanmax), ("mean", np.nanmean))):
            ax = fig.add_subplot(spec[1 + row, col])
            grid_heatmap(fig, ax, ctx, need, ctx.accuracy, f"{name}:\n{label} over seeds",
                         "Test accuracy", reduce=reduce, vmin=0.0, vmax=1.0)
            grid_axes.append(ax)
    panel_label(grid_axes[0], "c")
    axes_d = [fig.add_subplot(spec[1 + k, 3:5]) for k in range(2)]
    render_variants(VARIANTS, TITLE)(ctx, fig, axes_d, letters="d ")
    fig.suptitle(TITLE, fontsize=10)
    return fig
