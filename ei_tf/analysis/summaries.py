"""Each exported epoch's analysis as TensorBoard summaries, written while a run trains.

:class:`AnalysisSummaries` is called after every SavedModel export of a run (a hook of
:class:`ei_tf.export.SavedModelWriter`, passed by ``train.py`` through
``ei_tf.training.train(on_export=...)``) and writes to ``<run>/tensorboard/analysis``, at step
= the exported epoch (0 = the initial network), so that Figure 5's curves grow as the run
trains:

* always: per connection type ``density/area3_PN_to_PN``, ... (channel-to-channel density,
  Appendix A) and the histogram ``log_weight/area3_PN_to_PN``, ... of the natural-log
  channel-to-channel weights, on the fixed bins of Figure 3
  (:data:`~ei_tf.analysis.pipeline.LOG_WEIGHT_BINS`, trimmed to the occupied range; exact zeros
  and weights outside the bins are not shown);
* with ``export.tensorboard_analysis``: per area and population ``gosi/area3_PN``,
  ``orientation_skewness/area3_PN`` and ``image_skewness/area3_PN`` (means over responsive
  neurons, eqs. 3-4), from the run's full analysis
  (:func:`~ei_tf.analysis.pipeline.analyze_run` on the first ``export.tensorboard_images``
  test images), which is also stored as ``analysis/epoch_<E>.json``.

The costs per export measured on the Standard network are in the README (TensorBoard).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ei_tf.analysis.pipeline import (LOG_WEIGHT_BINS, POPULATION_METRICS, analyze_run,
                                     connection_metrics)
from ei_tf.analysis.recording import LoadedModel
from ei_tf.config import Config

SUMMARY_DIR = "tensorboard/analysis"


class AnalysisSummaries:
    """Export hook ``(savedmodel_dir, epoch)``: the analysis summaries of one run.

    Args:
        run_dir: the run directory (summaries go to ``<run_dir>/tensorboard/analysis``).
        cfg: the run's config; ``export.tensorboard_analysis`` adds the selectivity, on
            ``export.tensorboard_images`` test images (None: all; 0: no image skewness).
    """

    def __init__(self, run_dir, cfg: Config):
        self.run_dir = Path(run_dir)
        self.selectivity = cfg.export.tensorboard_analysis
        self.n_images = cfg.export.tensorboard_images
        self.data_dir = cfg.data.data_dir or None
        self._writer = None

    @property
    def logdir(self) -> Path:
        return self.run_dir / SUMMARY_DIR

    def __call__(self, savedmodel_dir, epoch: int) -> None:
        import tensorflow as tf

        if self.selectivity:
            result = analyze_run(self.run_dir, int(epoch), n_images=self.n_images,
                                 data_dir=self.data_dir, verbose=False)[0].result
        else:
            kernels = LoadedModel(savedmodel_dir).connectivity()
            result = {"connections": {k: connection_metrics(v) for k, v in kernels.items()}}
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(str(self.logdir))
        write_summaries(self._writer, result, int(epoch))


def _histogram_tensor(counts, bins: np.ndarray) -> np.ndarray:
    """TensorBoard's histogram layout ``[k, 3]`` (left edge, right edge, count) of the bins
    from the first to the last occupied one (one empty bin when none is)."""
    counts = np.asarray(counts, np.float64)
    occupied = np.nonzero(counts)[0]
    lo, hi = (occupied[0], occupied[-1] + 1) if occupied.size else (0, 1)
    return np.stack([bins[lo:hi], bins[lo + 1:hi + 1], counts[lo:hi]], axis=1)


def write_summaries(writer, result: dict, step: int) -> None:
    """Write one epoch's analysis ``result`` (layout of ``analysis/epoch_<E>.json``; only
    ``connections`` is required) at ``step``: the scalars and histograms listed in the module
    docstring. Undefined values (no responsive neuron, no channel) are left out."""
    import tensorflow as tf
    from tensorboard.plugins.histogram import metadata as histogram_metadata

    bins = np.asarray(result.get("log_weight_bins", LOG_WEIGHT_BINS), np.float64)
    with writer.as_default(step=step):
        for key, entry in result.get("populations", {}).items():
            for metric in POPULATION_METRICS:
                mean = entry[metric]["mean"]
                if mean is not None:
                    tf.summary.scalar(f"{metric}/{key}", mean)
        for key, entry in result["connections"].items():
            if entry["density"] is not None:
                tf.summary.scalar(f"density/{key}", entry["density"])
            tag = f"log_weight/{key}"
            meta = histogram_metadata.create_summary_metadata(
                display_name=tag, description="natural log of the channel-to-channel weights")
            tf.summary.write(tag, _histogram_tensor(entry["log_weight_hist"]["counts"], bins),
                             metadata=meta)
    writer.flush()
