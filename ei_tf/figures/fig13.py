"""Figure 13: Standard against InhPN in detail.

gOSI (a), orientation skewness (b), image skewness (c) and connection density (d) per cell /
connection type, area 3 (left) and area 4 (right); bars: means, 95% bootstrap CIs, dots networks.
"""

from ei_tf.analysis.runs import Need, variant_need
from ei_tf.figures.common import VARIANT_COLORS
from ei_tf.figures.panels import detailed_comparison

TITLE = "Detailed comparison between the Standard model and the InhPN network"
MODELS = [("Standard", VARIANT_COLORS["original"], Need("fig2_standard")),
          ("InhPN", VARIANT_COLORS["InhPN"], variant_need("inhpn", "standard"))]


def needs():
    return [m[2] for m in MODELS]


def render(ctx):
    return detailed_comparison(ctx, MODELS, TITLE)
