import math

import numpy as np

from ei_tf.analysis.connectivity import (
    DENSITY_THRESHOLD,
    channel_weights,
    density,
    log_weights,
    separable_kernel,
)

T = math.exp(-10)  # the paper's density threshold (section 2 and Figure 3; Appendix A)


def test_pipeline_threshold_is_the_papers():
    """The threshold the analysis pipeline passes (DENSITY_THRESHOLD) is exactly exp(-10): an
    entry at exp(-10) is not counted, the next float above it is."""
    kernel = np.array([T, np.nextafter(T, 1.0)]).reshape(1, 1, 1, 2)
    assert density(kernel, threshold=DENSITY_THRESHOLD) == 1 / 2


def test_channel_weights_average_magnitudes():
    kernel = np.arange(-18, 18, dtype=np.float64).reshape(3, 3, 2, 2)
    expected = np.abs(kernel).mean(axis=(0, 1))
    np.testing.assert_allclose(channel_weights(kernel), expected)
    assert channel_weights(kernel).shape == (2, 2)


def test_density_strict_threshold():
    above = np.nextafter(T, 1.0)
    # 1 x 1 kernel: channel weights equal the entries exactly.
    kernel = np.array([T, -T, above, -above, 0.0, 1.0, -0.5, 1e-6]).reshape(1, 1, 2, 4)
    assert density(kernel) == 4 / 8  # +-T, 0 and 1e-6 (< T = 4.54e-5) are not counted
    assert density(kernel, threshold=0.6) == 1 / 8


def test_density_spatial_average_and_alternative():
    kernel = np.zeros((3, 3, 2, 2))
    kernel[1, 1, 0, 0] = 9e-4  # one strong tap: average 1e-4 > T
    kernel[:, :, 1, 0] = -1e-3  # all taps strong
    kernel[0, 0, 0, 1] = 9e-5  # the tap is > T, its average 1e-5 < T
    # channel [1, 1] stays zero
    assert density(kernel) == 2 / 4
    assert density(kernel, spatial_average=False) == (1 + 9 + 1) / 36


def test_separable_kernel_channel_weights():
    rng = np.random.default_rng(0)
    depthwise = rng.normal(size=(3, 3, 4, 1))
    pointwise = rng.normal(size=(1, 1, 4, 5))
    kernel = separable_kernel(depthwise, pointwise)
    assert kernel.shape == (3, 3, 4, 5)
    np.testing.assert_allclose(kernel[2, 0, 3, 1], depthwise[2, 0, 3, 0] * pointwise[0, 0, 3, 1])
    expected = np.abs(pointwise[0, 0]) * np.abs(depthwise[..., 0]).mean(axis=(0, 1))[:, None]
    np.testing.assert_allclose(channel_weights(kernel), expected)


def test_separable_kernel_depth_multiplier():
    depthwise = np.ones((1, 1, 2, 2))
    depthwise[..., 1] = 10.0
    pointwise = np.arange(4.0).reshape(1, 1, 4, 1)  # inputs c0m0, c0m1, c1m0, c1m1
    kernel = separable_kernel(depthwise, pointwise)
    np.testing.assert_allclose(kernel[0, 0, :, 0], [0 + 10 * 1, 2 + 10 * 3])


def test_log_weights_drop_zeros():
    kernel = np.array([0.0, math.exp(-12), -math.exp(-3), 1.0]).reshape(1, 1, 2, 2)
    np.testing.assert_allclose(np.sort(log_weights(kernel)), [-12.0, -3.0, 0.0])
    full = np.zeros((3, 3, 1, 1))
    full[0, 0] = math.exp(-2)
    np.testing.assert_allclose(log_weights(full), [-2.0 - math.log(9)])
    np.testing.assert_allclose(log_weights(full, spatial_average=False), [-2.0])
