"""Figure 6: selectivity and connectivity across numbers of E and I channels.

(a) image skewness of PN (left) and interneurons (right), (b) density of PN->PN (left) and
Int->PN (right), as heatmaps over the E x I channel grid (area 3 counts; area 4 doubled), each
cell the mean over the grid's seeds, areas 3 and 4 and both interneuron types pooled. Top row:
Standard grid; bottom row: StandardEI grid. Crossed cells: mean accuracy below 60%.
"""

from ei_tf.analysis.claims import GRID_ACCURACY
from ei_tf.analysis.runs import Need
from ei_tf.figures.common import new_figure, panel_label
from ei_tf.figures.panels import grid_heatmap, int_pn_density, int_skew, pn_pn_density, pn_skew

TITLE = "Selectivity and connectivity with various numbers of E and I channels"
GRIDS = [("Standard", Need("fig6_standard_channel_grid")),
         ("StandardEI", Need("fig6_standard_ei_channel_grid"))]


def needs():
    return [need for _, need in GRIDS]


def render(ctx):
    fig = new_figure(15.0, 6.0)
    axes = fig.subplots(len(GRIDS), 4)
    columns = [(pn_skew, "PN image skewness", "Image skewness"),
               (int_skew, "Int image skewness", "Image skewness"),
               (pn_pn_density, "PN→PN density", "Connection density"),
               (int_pn_density, "Int→PN density", "Connection density")]
    for row, (name, need) in enumerate(GRIDS):
        for col, (make, title, cbar) in enumerate(columns):
            kwargs = {"vmin": 0.0, "vmax": 1.0} if "density" in title else {}
            grid_heatmap(fig, axes[row, col], ctx, need, make(ctx), f"{name}: {title}", cbar,
                         accuracy_bar=GRID_ACCURACY, **kwargs)
    panel_label(axes[0, 0], "a")
    panel_label(axes[0, 2], "b")
    fig.suptitle(TITLE, fontsize=9)
    fig.tight_layout()
    return fig
