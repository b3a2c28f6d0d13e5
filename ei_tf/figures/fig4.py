"""Figure 4: the E-I differences across networks and datasets.

One panel: x = image-skewness difference PN - Int (IG and OG pooled, or I), y = density
difference Int->PN - PN->PN, neurons and connections of all recurrent areas pooled (areas 3 and
4 on CIFAR10). Light circles: networks; dark circles: averages; star: the experimental estimate
of Appendix E (2.1, 0.42 - 0.11).
"""

from ei_tf.analysis.runs import Need
from ei_tf.figures.common import PALETTE, new_figure
from ei_tf.figures.panels import scatter_groups

TITLE = "E-I differences across network variations and datasets"
GROUPS = [("Standard (CIFAR10)", PALETTE[0], "o", Need("fig2_standard")),
          ("StandardEI (CIFAR10)", PALETTE[1], "o", Need("fig4_standard_ei")),
          ("Standard (ImageNet)", PALETTE[2], "o", Need("fig4_imagenet_standard"))]


def needs():
    return [g[3] for g in GROUPS]


def render(ctx):
    fig = new_figure(4.2, 3.6)
    ax = fig.subplots()
    scatter_groups(ax, ctx, GROUPS)
    ax.set_title(TITLE, fontsize=9)
    fig.tight_layout()
    return fig
