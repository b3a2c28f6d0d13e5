"""Across-network statistics: means with bootstrap confidence intervals (paper Figure 2)."""

from __future__ import annotations

import numpy as np
import scipy.stats


def bootstrap_ci(
    values: np.ndarray, confidence: float = 0.95, n_resamples: int = 10_000, seed: int = 0
) -> tuple[float, float, float]:
    """Mean and percentile-bootstrap confidence interval of the mean across networks.

    Uses ``scipy.stats.bootstrap`` with ``method="percentile"`` and a fixed seed.  NaNs (e.g.
    a network without any responsive neuron of a type) are dropped first.  With a single
    remaining value the interval collapses to that value, ``(v, v, v)``; with none the result
    is ``(nan, nan, nan)``.

    Returns:
        ``(mean, low, high)``.
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    values = values[~np.isnan(values)]
    if values.size == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(values.mean())
    if values.size == 1:
        return mean, mean, mean
    result = scipy.stats.bootstrap(
        (values,),
        np.mean,
        n_resamples=n_resamples,
        confidence_level=confidence,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    interval = result.confidence_interval
    return mean, float(interval.low), float(interval.high)
