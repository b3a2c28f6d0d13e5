import numpy as np
import pytest
import scipy.stats

from ei_tf.analysis.selectivity import (DEFAULT_CONSTANT_SKEWNESS, constant_units, gosi,
                                        grating_gosi, skewness, summarize)
from ei_tf.stimuli import N_GRATINGS, make_gratings

THETA = np.deg2rad(np.arange(0, 180, 10))


def test_gosi_analytic_tuning_curves():
    flat = np.full(18, 3.0)
    single = np.zeros(18)
    single[7] = 2.5
    theta0 = np.deg2rad(40.0)
    half = 1.0 + np.cos(2 * (THETA - theta0))
    np.testing.assert_allclose(gosi(flat, THETA), 0.0, atol=1e-12)
    np.testing.assert_allclose(gosi(single, THETA), 1.0)
    np.testing.assert_allclose(gosi(half, THETA), 0.5)


def test_gosi_vectorized_and_silent():
    tuning = np.stack([np.full(18, 1.0), np.eye(18)[3], np.zeros(18)])
    result = gosi(tuning.reshape(3, 1, 18), THETA)
    assert result.shape == (3, 1)
    np.testing.assert_allclose(result[:2, 0], [0.0, 1.0], atol=1e-12)
    assert np.isnan(result[2, 0])


def test_grating_gosi_uses_preferred_frequency_and_phase():
    g = make_gratings(8)
    grid_shape = (6, 4, 18)
    responses = np.zeros(grid_shape + (3,))
    # Neuron 0: perfectly tuned (gOSI 1) at frequency 4 / phase 2, where its maximum is;
    # elsewhere a weaker flat response (gOSI 0), which must be ignored.
    responses[..., 0] = 0.5
    responses[4, 2, :, 0] = 0.0
    responses[4, 2, 9, 0] = 5.0
    # Neuron 1: 1 + cos 2(theta - 60 deg) (gOSI 0.5) at frequency 1 / phase 3, with the
    # highest response of all there; single-orientation responses (gOSI 1) elsewhere.
    responses[0, 0, 2, 1] = 1.5
    responses[5, 1, 12, 1] = 1.9
    responses[1, 3, :, 1] = 1.0 + np.cos(2 * (THETA - np.deg2rad(60)))
    # Neuron 2 never responds.
    result = grating_gosi(responses.reshape(N_GRATINGS, 3), g)
    np.testing.assert_allclose(result[:2], [1.0, 0.5])
    assert np.isnan(result[2])
    with pytest.raises(ValueError):
        grating_gosi(np.zeros((100, 3)), g)


def test_skewness_matches_scipy_and_eq4():
    rng = np.random.default_rng(1)
    responses = rng.exponential(size=(432, 5)) ** 2
    expected = scipy.stats.skew(responses, axis=0, bias=True)
    np.testing.assert_allclose(skewness(responses), expected, rtol=1e-12)

    r = np.array([0.0, 0.0, 1.0, 3.0])
    m = r.mean()  # eq. 4 by hand: mean 1, m2 = 1.5, m3 = 1.5
    hand = np.mean((r - m) ** 3) / np.mean((r - m) ** 2) ** 1.5
    np.testing.assert_allclose(hand, 1.5 / 1.5**1.5)
    np.testing.assert_allclose(skewness(r[:, None]), [hand])
    np.testing.assert_allclose(skewness(responses.T, axis=1), expected, rtol=1e-12)


def test_constant_neurons_score_zero_by_default():
    rng = np.random.default_rng(2)
    responses = rng.exponential(size=(50, 4))
    responses[:, 1] = 0.0  # never responds
    responses[:, 3] = 2.0  # no variance
    np.testing.assert_array_equal(constant_units(responses), [False, True, False, True])
    values = skewness(responses)
    # the reading the pipeline and the figures name as their default is skewness()'s default
    np.testing.assert_array_equal(values, skewness(responses, constant=DEFAULT_CONSTANT_SKEWNESS))
    np.testing.assert_array_equal(values[[1, 3]], [0.0, 0.0])
    np.testing.assert_allclose(values[[0, 2]], scipy.stats.skew(responses[:, [0, 2]], axis=0))
    assert summarize(values) == (pytest.approx(values.mean()), 0)
    # gOSI of the silent neuron stays undefined (eq. 3: 0 / 0)
    assert np.isnan(gosi(np.zeros(18), THETA))
    with pytest.raises(ValueError, match="constant must be one of zero, undefined"):
        skewness(responses, constant="nan")


def test_dead_neurons_excluded_and_counted():
    rng = np.random.default_rng(2)
    responses = rng.exponential(size=(50, 4))
    responses[:, 1] = 0.0  # never responds
    responses[:, 3] = 2.0  # no variance
    values = skewness(responses, constant="undefined")
    assert np.isnan(values[1]) and np.isnan(values[3])
    assert np.all(np.isfinite(values[[0, 2]]))
    summary = summarize(values)
    assert summary.n_excluded == 2
    np.testing.assert_allclose(summary.mean, values[[0, 2]].mean())

    assert summarize([1.0, 3.0]) == (2.0, 0)
    empty = summarize([np.nan, np.nan])
    assert np.isnan(empty.mean) and empty.n_excluded == 2
