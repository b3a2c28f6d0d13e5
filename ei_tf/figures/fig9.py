"""Figure 9: the E-I differences across network variations (Figure 4's axes).

(a) readout (LastT / SumT) x gating (Mul / Sub input and output gates), the sweep
fig9a_readout_gating; (b) the transition from Standard to StandardEI; (c) normalization and
dropout variants. Areas 3 and 4 combined; light circles networks, dark circles averages; star:
experimental estimate.
"""

from ei_tf.analysis.runs import Need
from ei_tf.figures.common import PALETTE, new_figure, panel_label
from ei_tf.figures.panels import scatter_groups

TITLE = "E-I differences emerge across a range of network variations"
READOUT_GATING = ["LastT_MulSub", "LastT_MulMul", "LastT_SubMul", "LastT_SubSub",
                  "SumT_MulSub", "SumT_MulMul", "SumT_SubMul", "SumT_SubSub"]
TRANSITION = [("Standard", "fig2_standard"),
              ("NoOG_ECurrBN", "fig9b_noog_ecurrbn"),
              ("NoOG_ECurrBN_SSub", "fig9b_noog_ecurrbn_ssub"),
              ("NoOG_ECurrBN_SSub_SFG_RecurrI", "fig9b_noog_ecurrbn_ssub_sfg_recurri")]
NORMALIZATION = [("NoPNCellBN", "fig9c_no_pn_cell_bn"),
                 ("PNCellDrpt", "fig9c_pn_cell_drpt"),
                 ("AddIGCurrBN", "fig9c_add_ig_curr_bn"),
                 ("AddOGCurrBN", "fig9c_add_og_curr_bn"),
                 ("EI_CurrBN_ICurrBN", "fig9c_ei_curr_bn_i_curr_bn"),
                 ("PNCellDrpt_AddOGDrpt", "fig9c_pn_cell_drpt_add_og_drpt")]


def _groups(named):
    return [(label, PALETTE[k % len(PALETTE)], "o", need) for k, (label, need) in
            enumerate(named)]


PANELS = [
    ("Readout and gating", _groups([(p, Need("fig9a_readout_gating", points=(p,)))
                                    for p in READOUT_GATING])),
    ("Standard → StandardEI", _groups([(label, Need(c)) for label, c in TRANSITION])),
    ("Normalization and dropout", _groups([(label, Need(c)) for label, c in NORMALIZATION])),
]


def needs():
    return [g[3] for _, groups in PANELS for g in groups]


def render(ctx):
    fig = new_figure(13.0, 4.2)
    axes = fig.subplots(1, 3)
    for ax, (title, groups), letter in zip(axes, PANELS, "abc"):
        scatter_groups(ax, ctx, groups)
        ax.set_title(title)
        panel_label(ax, letter)
    fig.suptitle(TITLE, fontsize=9)
    fig.tight_layout()
    return fig
