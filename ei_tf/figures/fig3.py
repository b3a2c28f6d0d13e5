"""Figure 3: sparser excitatory connectivity (Standard).

(a-d) distributions of log connection weights in area 3 of one network: all recurrent
connections, PN->PN, OG->PN, IG->PN, with the threshold exp(-10) in blue; (e) connection density
of PN->PN, IG->PN and OG->PN in areas 3 and 4 across networks (95% bootstrap CI).
"""

from ei_tf.analysis.runs import Need
from ei_tf.figures.common import new_figure, panel_label
from ei_tf.figures.panels import histograms_and_density

TITLE = "Excitatory neurons are more sparsely connected (Standard)"
STANDARD = Need("fig2_standard")


def needs():
    return [STANDARD]


def render(ctx):
    results = ctx.finals(STANDARD)
    fig = new_figure(11.0, 2.5)
    axes = fig.subplots(1, 5)
    histograms_and_density(axes[:4], axes[4], results, [None, "PN_to_PN", "OG_to_PN", "IG_to_PN"],
                           ["PN_to_PN", "IG_to_PN", "OG_to_PN"])
    for ax, letter in zip(axes, "abcde"):
        panel_label(ax, letter)
    fig.suptitle(TITLE, fontsize=9)
    fig.tight_layout()
    return fig
