"""Figure 12: accuracy of the InhPN and NoConstraint networks next to the original ones.

Bars: mean test accuracy over networks, error bars 95% bootstrap CI, dots networks; Standard
family and StandardEI family.
"""

import dataclasses

from ei_tf.figures.common import VARIANT_COLORS, new_figure
from ei_tf.figures.fig7 import VARIANTS
from ei_tf.figures.panels import accuracy_bars

TITLE = "Performance of the InhPN and NoConstraint networks"
MODELS = [(label, VARIANT_COLORS[kind], dataclasses.replace(need, analysis=None))
          for label, kind, _, need in VARIANTS]


def needs():
    return [m[2] for m in MODELS]


def render(ctx):
    fig = new_figure(5.5, 3.4)
    ax = fig.subplots()
    accuracy_bars(ax, ctx, MODELS, TITLE)
    fig.tight_layout()
    return fig
