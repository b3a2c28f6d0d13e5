"""Figure 11: accuracy across numbers of E and I channels (Figure 6's grids).

Mean test accuracy over seeds per grid cell: Standard (left) and StandardEI (right).
"""

from ei_tf.analysis.runs import Need
from ei_tf.figures.common import new_figure, panel_label
from ei_tf.figures.fig6 import GRIDS
from ei_tf.figures.panels import grid_heatmap

TITLE = "Performance with various numbers of E and I channels"


def needs():
    return [Need(need.config, analysis=None) for _, need in GRIDS]


def render(ctx):
    fig = new_figure(8.5, 3.4)
    axes = fig.subplots(1, len(GRIDS))
    for ax, need, (name, _), letter in zip(axes, needs(), GRIDS, "ab"):
        grid_heatmap(fig, ax, ctx, need, ctx.accuracy, name, "Test accuracy", vmin=0.0,
                     vmax=1.0)
        panel_label(ax, letter)
    fig.suptitle(TITLE, fontsize=9)
    fig.tight_layout()
    return fig
