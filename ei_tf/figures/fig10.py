"""Figure 10: classification accuracy during training (Standard).

Training and test accuracy per epoch from each network's history.csv (light: networks, dark:
mean); dashed lines: the learning-rate decays (epochs 100, 150, 200).
"""

import numpy as np

from ei_tf.analysis.runs import Need, run_history
from ei_tf.figures.common import empty_panel, new_figure

TITLE = "Classification accuracy during training (Standard)"
STANDARD = Need("fig2_standard", analysis=None)


def needs():
    return [STANDARD]


def training_curves(ax, ctx, need, columns=(("accuracy", "Training", "#d62728"),
                                            ("val_accuracy", "Test", "#1f77b4")),
                    ylabel="Accuracy"):
    """Per-epoch curves of ``columns`` of history.csv: networks light, mean dark (over the
    epochs every network has a value for: a run that tests every ``training.validation_freq``
    epochs has ``val_*`` values only at those)."""
    runs = ctx.runs_for(need)
    histories = [run_history(run.run_dir) for run in runs]
    last = 0
    for column, label, color in columns:
        curves = [h[column] for h in histories if column in h and len(h[column])]
        for curve in curves:
            x = np.flatnonzero(np.isfinite(curve))
            ax.plot(x + 1, curve[x], color=color, alpha=0.25, lw=0.8)
        if curves:
            n = min(len(c) for c in curves)
            stacked = np.array([c[:n] for c in curves])
            x = np.flatnonzero(np.isfinite(stacked).all(axis=0))
            ax.plot(x + 1, stacked[:, x].mean(axis=0), color=color, lw=1.6, label=label)
            last = max(last, max(len(c) for c in curves))
    if not last:  # a partial figure: no finished network has a history
        ax.set_ylabel(ylabel)
        empty_panel(ax)
        return
    for boundary in (ctx.lr_boundaries(runs[0]) if runs else []):
        if boundary <= last:
            ax.axvline(boundary, color="0.5", ls="--", lw=0.7)
    ax.set_xlabel("Epoch")
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7, frameon=False)


def render(ctx):
    fig = new_figure(4.5, 3.2)
    ax = fig.subplots()
    training_curves(ax, ctx, STANDARD)
    ax.set_title(TITLE, fontsize=9)
    fig.tight_layout()
    return fig
