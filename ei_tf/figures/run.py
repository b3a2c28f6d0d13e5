"""A run with the figure panels that apply to one network, for notebooks.

``ei_tf.load_run(run_dir)`` returns a :class:`RunFigures`: the run's config, history, exports,
SavedModels and analysis (:class:`ei_tf.analysis.runs.RunData`) plus methods that draw one
network's panels of the paper on a matplotlib Axes the caller provides: tuning curves (Figure
8b), log-weight histograms (Figure 3a-d) and bars by area of a selectivity measure or of the
connection density (Figures 2 and 3e, for this one network).
"""

from __future__ import annotations

from typing import Optional, Sequence

from ei_tf.analysis.runs import RunData
from ei_tf.analysis.summary import family_types
from ei_tf.figures.common import METRIC_LABELS
from ei_tf.figures.panels import by_area, connection_histogram, example_neurons, tuning_curves


class RunFigures(RunData):
    """:class:`~ei_tf.analysis.runs.RunData` with one network's figure panels. Each ``plot_*``
    method draws the analysis of ``epoch`` (default: the last exported) on ``ax`` and returns
    ``ax``; matplotlib's global settings are left alone."""

    def plot_tuning_curves(self, ax, population: str = "area3_PN",
                           neurons: Optional[Sequence[int]] = None,
                           epoch: Optional[int] = None):
        """Orientation tuning curves of ``neurons`` (channel indices; default: three
        responsive ones, from the highest through the median to the lowest gOSI) of
        ``population`` (``area<k>_<PN|IG|OG|E|I>``)."""
        result = self.analysis(epoch)
        entry = result["populations"].get(population)
        if entry is None:
            raise KeyError(f"no population {population!r} (populations: "
                           f"{', '.join(result['populations'])})")
        tuning_curves(ax, entry, example_neurons(entry) if neurons is None else neurons)
        ax.set_xlabel("Orientation (deg)")
        ax.set_ylabel("Response")
        ax.set_title(f"{population}, epoch {result['epoch']}")
        ax.legend(fontsize=6, frameon=False)
        return ax

    def plot_weight_histogram(self, ax, connection: Optional[str] = None,
                              area: str = "area3", epoch: Optional[int] = None):
        """The distribution of log connection weights of ``connection`` (e.g. ``PN_to_PN``;
        None: every recurrent connection of ``area``), with the threshold exp(-10)."""
        connection_histogram(ax, self.analysis(epoch), connection, area)
        return ax

    def plot_by_area(self, ax, metric: str = "density", epoch: Optional[int] = None):
        """Bars by area: ``metric`` (``gosi``, ``orientation_skewness``, ``image_skewness``)
        of every cell type, or ``density`` of every connection type."""
        if metric not in METRIC_LABELS:
            raise ValueError(f"metric {metric!r} is not one of {', '.join(METRIC_LABELS)}")
        result = self.analysis(epoch)
        types = family_types(result)
        items = types["connections"] if metric == "density" else [types["pn"], *types["int"]]
        by_area(ax, [result], metric, items, title=f"epoch {result['epoch']}")
        return ax


def load_run(run_dir, n_images: Optional[int] = None,
             data_dir: Optional[str] = None) -> RunFigures:
    """Open the run directory ``run_dir`` (arguments of :class:`~ei_tf.analysis.runs.RunData`)."""
    return RunFigures(run_dir, n_images=n_images, data_dir=data_dir)
