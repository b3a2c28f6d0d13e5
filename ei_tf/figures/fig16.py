"""Figure 16: networks trained on shuffled labels (with weight decay, "_L2").

Rows: Shuffled_L2 (Standard) and EI_Shuffled_L2 (StandardEI). Columns: (a) accuracy on the
shuffled training set and on the test set during training (history.csv), (b) image skewness
per cell type, (c) connection density per connection type, areas 3 and 4; bars: means, 95%
bootstrap CIs, dots networks.
"""

from ei_tf.analysis.runs import Need
from ei_tf.analysis.summary import family_types
from ei_tf.figures.common import new_figure, panel_label
from ei_tf.figures.fig10 import training_curves
from ei_tf.figures.panels import by_area

TITLE = "Networks trained on shuffled labels"
NETWORKS = [("Shuffled_L2", Need("fig16_standard_shuffled_l2")),
            ("EI_Shuffled_L2", Need("fig16_standard_ei_shuffled_l2"))]


def needs():
    return [need for _, need in NETWORKS]


def render(ctx):
    fig = new_figure(11.0, 6.0)
    axes = fig.subplots(len(NETWORKS), 3)
    for row, (name, need) in enumerate(NETWORKS):
        results = ctx.finals(need)
        types = family_types(results[0]) if results else family_types({})
        training_curves(axes[row, 0], ctx, need,
                        (("accuracy", "Training (shuffled labels)", "#d62728"),
                         ("val_accuracy", "Test", "#1f77b4")))
        axes[row, 0].set_title(name)
        by_area(axes[row, 1], results, "image_skewness", [types["pn"], *types["int"]],
                title=name)
        by_area(axes[row, 2], results, "density", list(types["connections"]), title=name)
    for ax, letter in zip(axes[0], "abc"):
        panel_label(ax, letter)
    fig.suptitle(TITLE, fontsize=9)
    fig.tight_layout()
    return fig
