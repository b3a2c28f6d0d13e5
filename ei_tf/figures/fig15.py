"""Figure 15: the StandardEI networks in detail (Figures 2 and 3 for E and I).

(a-c) gOSI, orientation skewness and image skewness of E and I in areas 3 and 4; (d-f)
distributions of log connection weights in area 3 of one network (all, E->E, I->E) with the
threshold exp(-10); (g) density of E->E, I->E, E->I and I->I across networks.
"""

from ei_tf.analysis.runs import Need
from ei_tf.figures.common import new_figure, panel_label
from ei_tf.figures.panels import histograms_and_density, selectivity_row

TITLE = "Detailed analysis of the StandardEI model"
STANDARD_EI = Need("fig4_standard_ei")


def needs():
    return [STANDARD_EI]


def render(ctx):
    results = ctx.finals(STANDARD_EI)
    fig = new_figure(11.0, 5.4)
    top = [fig.add_subplot(2, 4, k) for k in (1, 2, 3)]
    bottom = [fig.add_subplot(2, 4, k) for k in (5, 6, 7, 8)]
    selectivity_row(top, results)
    histograms_and_density(bottom[:3], bottom[3], results, [None, "E_to_E", "I_to_E"],
                           ["E_to_E", "I_to_E", "E_to_I", "I_to_I"])
    for ax, letter in zip(top + bottom, "abcdefg"):
        panel_label(ax, letter)
    fig.suptitle(TITLE, fontsize=9)
    fig.tight_layout()
    return fig
