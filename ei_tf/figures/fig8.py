"""Figure 8: gratings and example orientation tuning curves.

(a) the 432 gratings (rows: 6 spatial frequencies x 4 phases, columns: 18 orientations);
(b) orientation tuning curves (at the preferred frequency and phase) of example PN, OG and IG
neurons from area 3 of one Standard network, three of each (highest, median and lowest gOSI
among responsive neurons), with their gOSI.
"""

import numpy as np

from ei_tf.analysis.runs import Need
from ei_tf.figures.common import CELL_COLORS, new_figure, panel_label
from ei_tf.figures.panels import example_neurons, tuning_curves
from ei_tf.stimuli import N_FREQ, N_ORIENT, N_PHASE, ORIENTATIONS_DEG, make_gratings

TITLE = "Gratings and example tuning curves (Standard, area 3)"
STANDARD = Need("fig2_standard")
CELLS = ("PN", "OG", "IG")
EXAMPLES = 3


def needs():
    return [STANDARD]


def mosaic(size: int = 32) -> np.ndarray:
    """All gratings tiled: [N_FREQ * N_PHASE * size, N_ORIENT * size] grey levels."""
    images = make_gratings(size).images[..., 0]  # [432, size, size]
    grid = images.reshape(N_FREQ * N_PHASE, N_ORIENT, size, size)
    return grid.transpose(0, 2, 1, 3).reshape(N_FREQ * N_PHASE * size, N_ORIENT * size)


def render(ctx):
    run = ctx.runs_for(STANDARD)[0]
    result = ctx.final(run)
    fig = new_figure(10.0, 4.6)
    outer = fig.add_gridspec(1, 2, width_ratios=[1.1, 1.6], wspace=0.25)
    ax = fig.add_subplot(outer[0])
    size = int(result.get("settings", {}).get("image_size") or 32)
    ax.imshow(mosaic(size), cmap="gray", interpolation="nearest")
    ax.set_xticks((np.arange(N_ORIENT) + 0.5) * size)
    ax.set_xticklabels([f"{int(o)}" if k % 3 == 0 else "" for k, o in enumerate(ORIENTATIONS_DEG)],
                       fontsize=6)
    ax.set_yticks((np.arange(N_FREQ) * N_PHASE + N_PHASE / 2) * size)
    ax.set_yticklabels(["1", "2", "3", "4", "6", "8"], fontsize=6)
    ax.set_xlabel("Orientation (deg)")
    ax.set_ylabel("Spatial frequency (cycles/image; 4 phases each)")
    ax.set_title("432 gratings")
    panel_label(ax, "a")
    inner = outer[1].subgridspec(len(CELLS), EXAMPLES, hspace=0.6, wspace=0.35)
    for row, cell in enumerate(CELLS):
        entry = result["populations"].get(f"area3_{cell}")
        picks = example_neurons(entry, EXAMPLES) if entry else []
        for col in range(EXAMPLES):
            ax = fig.add_subplot(inner[row, col])
            if row == 0 and col == 0:
                panel_label(ax, "b")
            if col >= len(picks):
                ax.text(0.5, 0.5, "no responsive\nneuron", ha="center", va="center",
                        transform=ax.transAxes, fontsize=6)
                ax.set_xticks([]), ax.set_yticks([])
                continue
            j = picks[col]
            tuning_curves(ax, entry, [j], CELL_COLORS[cell])
            ax.set_title(f"{cell} #{j}  gOSI {entry['gosi']['values'][j]:.2f}", fontsize=7)
            ax.tick_params(labelsize=6)
            if row == len(CELLS) - 1:
                ax.set_xlabel("Orientation (deg)", fontsize=7)
            if col == 0:
                ax.set_ylabel("Response", fontsize=7)
    fig.suptitle(f"{TITLE}; network {run.network}, seed {run.seed}", fontsize=8)
    return fig
