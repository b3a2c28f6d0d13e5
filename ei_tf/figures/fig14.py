"""Figure 14: Standard against NoConstraint in detail (layout of Figure 13)."""

from ei_tf.analysis.runs import Need, variant_need
from ei_tf.figures.common import VARIANT_COLORS
from ei_tf.figures.panels import detailed_comparison

TITLE = "Detailed comparison between the Standard model and the NoConstraint network"
MODELS = [("Standard", VARIANT_COLORS["original"], Need("fig2_standard")),
          ("NoConstraint", VARIANT_COLORS["NoConstraint"],
           variant_need("noconstraint", "standard"))]


def needs():
    return [m[2] for m in MODELS]


def render(ctx):
    return detailed_comparison(ctx, MODELS, TITLE)
