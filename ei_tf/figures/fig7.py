"""Figure 7: removing the asymmetries between E and I neurons.

Density difference (Int->PN - PN->PN) against image-skewness difference (PN - Int) in area 3
(a) and area 4 (b), for the original networks (blue), InhPN (green) and NoConstraint (orange)
variants; circles: Standard family, triangles: StandardEI family; light symbols networks,
dark symbols averages.

The InhPN and NoConstraint runs are the points ``standard`` and ``standard_ei`` of
``configs/fig7_inhpn.yaml`` and ``configs/fig7_noconstraint.yaml``, or runs of the
single-family files with the same networks (``fig7_standard_inhpn``, ``fig7_standard_ei_inhpn``,
``fig7_standard_noconstraint``, ``fig7_standard_ei_noconstraint``); for a seed trained under
both names the run of the two-family file counts (:class:`~ei_tf.analysis.runs.Need`).
"""

from ei_tf.analysis.runs import Need, variant_need
from ei_tf.figures.common import VARIANT_COLORS, new_figure, panel_label
from ei_tf.figures.panels import area_title, scatter_groups

TITLE = "Removing asymmetry between excitatory and inhibitory neurons"


VARIANTS = [
    ("Standard", "original", "o", Need("fig2_standard")),
    ("Standard InhPN", "InhPN", "o", variant_need("inhpn", "standard")),
    ("Standard NoConstraint", "NoConstraint", "o", variant_need("noconstraint", "standard")),
    ("StandardEI", "original", "^", Need("fig4_standard_ei")),
    ("StandardEI InhPN", "InhPN", "^", variant_need("inhpn", "standard_ei")),
    ("StandardEI NoConstraint", "NoConstraint", "^",
     variant_need("noconstraint", "standard_ei")),
]


def variant_groups(variants):
    """``[(label, colour, marker, Need)]`` of ``[(label, kind, marker, Need or config)]``."""
    return [(label, VARIANT_COLORS[kind], marker, need if isinstance(need, Need) else Need(need))
            for label, kind, marker, need in variants]


def needs():
    return [g[3] for g in variant_groups(VARIANTS)]


def render_variants(variants, title):
    """Two panels (areas 3 and 4) of Figure 7 for ``variants``; shared with Figure 17d."""
    def render(ctx, fig=None, axes=None, letters="ab"):
        own = fig is None
        if own:
            fig = new_figure(8.0, 3.6)
            axes = fig.subplots(1, 2)
        for ax, area, letter in zip(axes, ("area3", "area4"), letters):
            scatter_groups(ax, ctx, variant_groups(variants), areas=[area], experiment=False,
                           legend=area == "area4")
            ax.set_title(area_title(area))
            panel_label(ax, letter)
        if own:
            fig.suptitle(title, fontsize=9)
            fig.tight_layout()
        return fig
    return render


render = render_variants(VARIANTS, TITLE)
