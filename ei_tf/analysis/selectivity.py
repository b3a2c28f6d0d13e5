"""Selectivity measures of paper section 2 and Appendix C.

A neuron's response to a stimulus is its activation averaged over time steps; responses are
arrays ``[n_stimuli, n_neurons]``.  Neurons whose selectivity is undefined get NaN;
:func:`summarize` averages the finite values and counts the excluded neurons.  gOSI is
undefined for a neuron that never responds (eq. 3 is 0/0).  Eq. 4 is 0/0 as well for a neuron
that responds identically to every stimulus (a *constant* neuron, silent ones included); the
paper does not say how such neurons count, so :func:`skewness` takes the reading as an option
(:data:`CONSTANT_SKEWNESS`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.stats

from ei_tf.stimuli import N_GRATINGS, N_ORIENT, Gratings

# How eq. 4 scores a constant neuron: "zero" (skewness 0, an unselective neuron; what
# scipy.stats.skew returned before SciPy 1.9, the SciPy of the paper's time, whose text has
# selectivity start "close to 0" at initialization, Fig 5) or "undefined" (NaN, excluded from
# the means; SciPy >= 1.9 after scipy/scipy#16061).
CONSTANT_SKEWNESS = ("zero", "undefined")
DEFAULT_CONSTANT_SKEWNESS = "zero"


def gosi(tuning: np.ndarray, theta_rad: np.ndarray) -> np.ndarray:
    """Global orientation selectivity index, eq. 3: ``|sum_k r_k e^{2i theta_k} / sum_k r_k|``.

    Args:
        tuning: responses ``r(theta_k)`` along the last axis; any leading axes.
        theta_rad: the ``M`` orientations in radians, matching the last axis of ``tuning``.

    Returns:
        gOSI over the leading axes; NaN where ``sum_k r_k == 0`` (a silent neuron).
    """
    tuning = np.asarray(tuning, dtype=np.float64)
    theta_rad = np.asarray(theta_rad, dtype=np.float64)
    total = tuning.sum(axis=-1)
    vector = np.abs((tuning * np.exp(2j * theta_rad)).sum(axis=-1))
    safe_total = np.where(total == 0, 1.0, total)
    return np.where(total == 0, np.nan, vector / np.abs(safe_total))


def grating_gosi(responses: np.ndarray, gratings: Gratings) -> np.ndarray:
    """gOSI of each neuron at its preferred spatial frequency and phase (Appendix C).

    The preferred orientation, frequency and phase are those of the grating with the maximal
    response among all 432; gOSI is then computed over the 18 orientations at that frequency
    and phase.

    Args:
        responses: ``[432, n_neurons]`` time-averaged responses, in the order of ``gratings``.
        gratings: the stimuli, from :func:`ei_tf.stimuli.make_gratings`.

    Returns:
        ``[n_neurons]`` gOSI; NaN for neurons whose responses at the preferred frequency and
        phase sum to zero (in particular neurons that never respond).
    """
    responses = np.asarray(responses, dtype=np.float64)
    if responses.ndim != 2 or responses.shape[0] != N_GRATINGS:
        raise ValueError(f"expected responses [{N_GRATINGS}, n_neurons], got {responses.shape}")
    n_neurons = responses.shape[1]
    # [n_neurons, n_freq * n_phase, n_orient]
    per_neuron = gratings.as_grid(responses).reshape(-1, N_ORIENT, n_neurons).transpose(2, 0, 1)
    best = np.argmax(responses, axis=0) // N_ORIENT  # flat (frequency, phase) index
    tuning = per_neuron[np.arange(n_neurons), best]  # [n_neurons, n_orient]
    theta = np.deg2rad(gratings.as_grid(gratings.orientation)[0, 0])
    return gosi(tuning, theta)


def constant_units(responses: np.ndarray, axis: int = 0) -> np.ndarray:
    """Boolean mask of the neurons whose response is the same for every stimulus."""
    return np.ptp(np.asarray(responses, dtype=np.float64), axis=axis) == 0


def skewness(responses: np.ndarray, axis: int = 0,
             constant: str = DEFAULT_CONSTANT_SKEWNESS) -> np.ndarray:
    """Response skewness over stimuli, eq. 4 (``scipy.stats.skew`` with ``bias=True``).

    Args:
        responses: responses with the stimuli along ``axis``.
        constant: the score of a constant neuron (:func:`constant_units`, silent neurons
            included): ``"zero"`` gives 0, ``"undefined"`` NaN (see :data:`CONSTANT_SKEWNESS`).
    """
    if constant not in CONSTANT_SKEWNESS:
        raise ValueError(f"constant must be one of {', '.join(CONSTANT_SKEWNESS)}, "
                         f"got {constant!r}")
    responses = np.asarray(responses, dtype=np.float64)
    flat = constant_units(responses, axis)
    values = np.moveaxis(responses, axis, 0)
    result = np.full(flat.shape, 0.0 if constant == "zero" else np.nan)
    result[~flat] = scipy.stats.skew(values[:, ~flat], axis=0, bias=True)
    return result


class Summary(NamedTuple):
    """Mean of the finite values and the number of excluded (non-finite) values."""

    mean: float
    n_excluded: int


def summarize(values: np.ndarray) -> Summary:
    """Average a per-neuron measure over neurons where it is defined (finite)."""
    values = np.asarray(values, dtype=np.float64).ravel()
    finite = np.isfinite(values)
    mean = float(values[finite].mean()) if finite.any() else float("nan")
    return Summary(mean=mean, n_excluded=int((~finite).sum()))
