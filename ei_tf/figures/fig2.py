"""Figure 2: selectivity of each cell type in the Standard networks.

(a) gOSI, (b) orientation skewness, (c) image skewness of PN, IG and OG neurons in areas 3 and
4; bars are means over the five networks, error bars 95% bootstrap CIs, dots networks.
"""

from ei_tf.analysis.runs import Need
from ei_tf.figures.common import new_figure, panel_label
from ei_tf.figures.panels import selectivity_row

TITLE = "Excitatory neurons are more selective (Standard)"
STANDARD = Need("fig2_standard")


def needs():
    return [STANDARD]


def render(ctx):
    results = ctx.finals(STANDARD)
    fig = new_figure(9.0, 2.6)
    axes = fig.subplots(1, 3)
    selectivity_row(axes, results)
    for ax, letter in zip(axes, "abc"):
        panel_label(ax, letter)
    fig.suptitle(TITLE, fontsize=9)
    fig.tight_layout()
    return fig
