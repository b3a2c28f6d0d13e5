"""Connection-weight analysis of paper section 2 (Figure 3) and Appendix A.

Kernels are 4-D ``[k, k, C_in, C_out]`` convolution kernels; signs may be present but only
magnitudes are analysed.  Values are converted to float64 before comparison with the
threshold.
"""

from __future__ import annotations

import math

import numpy as np

DENSITY_THRESHOLD = math.exp(-10)  # separates the strong mode of the weights (Figure 3a)


def separable_kernel(depthwise: np.ndarray, pointwise: np.ndarray) -> np.ndarray:
    """Recover the 4-D kernel of a depth-separable convolution (Appendix A).

    Args:
        depthwise: ``[k, k, C_in, M]`` spatial kernel with depth multiplier ``M``.
        pointwise: ``[1, 1, C_in * M, C_out]`` channel-mixing kernel, whose input channel
            ``c * M + m`` is depthwise output ``m`` of input channel ``c``.

    Returns:
        ``[k, k, C_in, C_out]`` kernel ``sum_m depthwise[:, :, c, m] * pointwise[0, 0, c*M+m, :]``.
    """
    depthwise = np.asarray(depthwise, dtype=np.float64)
    pointwise = np.asarray(pointwise, dtype=np.float64)
    *_, c_in, mult = depthwise.shape
    mixing = pointwise.reshape(c_in, mult, pointwise.shape[-1])
    return np.einsum("hwcm,cmo->hwco", depthwise, mixing)


def channel_weights(kernel: np.ndarray) -> np.ndarray:
    """Channel-to-channel weights ``[C_in, C_out]``: ``|kernel|`` averaged over k x k positions."""
    return np.abs(np.asarray(kernel, dtype=np.float64)).mean(axis=(0, 1))


def _weights(kernel: np.ndarray, spatial_average: bool) -> np.ndarray:
    if spatial_average:
        return channel_weights(kernel)
    return np.abs(np.asarray(kernel, dtype=np.float64))


def density(
    kernel: np.ndarray, threshold: float = DENSITY_THRESHOLD, spatial_average: bool = True
) -> float:
    """Connection density: fraction of weights strictly above ``threshold``.

    With ``spatial_average=True`` the ``C_in x C_out`` channel weights are used (the paper's
    main measure); otherwise all ``k * k * C_in * C_out`` kernel magnitudes (its alternative).
    """
    return float(np.mean(_weights(kernel, spatial_average) > threshold))


def log_weights(kernel: np.ndarray, spatial_average: bool = True) -> np.ndarray:
    """Natural log of the weight magnitudes, flattened, for the histograms of Figure 3.

    Exact zeros (log = -inf) are dropped, so the result may be shorter than the number of
    weights.  The density threshold sits at ``log(DENSITY_THRESHOLD) = -10``.
    """
    weights = _weights(kernel, spatial_average).ravel()
    return np.log(weights[weights > 0])
