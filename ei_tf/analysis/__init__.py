"""Selectivity, connectivity and across-network statistics (paper section 2, Appendix A, C).

Measures on arrays: :mod:`.selectivity`, :mod:`.connectivity`. From exported SavedModels:
:mod:`.recording` (centre-unit responses, kernels), :mod:`.pipeline` (one JSON per exported
epoch of a run, cached), :mod:`.report` (tables of one epoch) and :mod:`.summaries`
(TensorBoard summaries written while a run trains). Over runs: :mod:`.runs` (which runs exist
and what they hold; one run directory for notebooks), :mod:`.summary` (the paper's summary
quantities, statistics across networks) and :mod:`.claims` (the paper's claims report).
TensorFlow is imported only when a SavedModel is loaded.
"""

from ei_tf.analysis.connectivity import (DENSITY_THRESHOLD, channel_weights, density, log_weights,
                                         separable_kernel)
from ei_tf.analysis.pipeline import (LOG_WEIGHT_BINS, EpochAnalysis, analyze_run,
                                     analyze_savedmodel, connection_metrics, find_exports,
                                     load_result, load_test_images, population_metrics, result_path)
from ei_tf.analysis.recording import (AnalysisError, LoadedModel, check_signatures,
                                      savedmodel_fingerprint)
from ei_tf.analysis.report import format_tables
from ei_tf.analysis.runs import RunData, run_history
from ei_tf.analysis.selectivity import Summary, gosi, grating_gosi, skewness, summarize
from ei_tf.analysis.summary import across_networks, aggregate, mean_ci

__all__ = ["DENSITY_THRESHOLD", "LOG_WEIGHT_BINS", "AnalysisError", "EpochAnalysis", "LoadedModel",
           "RunData", "Summary", "across_networks", "aggregate", "analyze_run",
           "analyze_savedmodel", "channel_weights", "check_signatures", "connection_metrics",
           "density", "find_exports", "format_tables", "gosi", "grating_gosi", "load_result",
           "load_test_images", "log_weights", "mean_ci", "population_metrics", "result_path",
           "run_history", "savedmodel_fingerprint", "separable_kernel", "skewness", "summarize"]
