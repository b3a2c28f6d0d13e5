"""Figure 7: removing the asymmetries between E and I neurons.

Density difference (Int->PN - PN->PN) against image-skewness difference (PN - Int) in area 3
(a) and area 4 (b), for the original networks (blue), InhPN (green) and NoConstraint (orange)
variants; circles: Standard family, triangles: StandardEI family; light symbols networks,
dark symbols averages.
"""

from ei_tf.figures.common import VARIANT_COLORS, Need, new_figure, panel_label
from ei_tf.figures.panels import area_title, scatter_groups

NUMBER = 7
TITLE = "Removing asymmetry between excitatory and inhibitory neurons"
VARIANTS = [
    ("Standard", "original", "o", "fig2_standard"),
    ("Standard InhPN", "InhPN", "o", "fig7_standard_inhpn"),
    ("Standard NoConstraint", "NoConstraint", "o", "fig7_standard_noconstraint"),
    ("StandardEI", "original", "^", "fig4_standard_ei"),
    ("StandardEI InhPN", "InhPN", "^", "fig7_standard_ei_inhpn"),
    ("StandardEI NoConstraint", "NoConstraint", "^", "fig7_standard_ei_noconstraint"),
]


def variant_groups(variants):
    return [(label, VARIANT_COLORS[kind], marker, Need(config))
            for label, kind, marker, config in variants]


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
