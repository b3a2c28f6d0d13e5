import numpy as np

from ei_tf.analysis.stats import bootstrap_ci


def test_ci_contains_mean():
    values = np.array([0.31, 0.42, 0.38, 0.55, 0.47])
    mean, low, high = bootstrap_ci(values)
    assert mean == values.mean()
    assert values.min() <= low < mean < high <= values.max()
    narrow = bootstrap_ci(values, confidence=0.5)
    assert low < narrow[1] < narrow[2] < high


def test_ci_reproducible_and_spread_dependent():
    values = np.array([1.0, 2.0, 4.0, 3.0, 5.0])
    assert bootstrap_ci(values, seed=3) == bootstrap_ci(values, seed=3)
    _, low, high = bootstrap_ci(values)
    _, low2, high2 = bootstrap_ci(values * 10)
    np.testing.assert_allclose([low2, high2], [10 * low, 10 * high])


def test_single_value_and_nans():
    assert bootstrap_ci([0.7]) == (0.7, 0.7, 0.7)
    assert bootstrap_ci([np.nan, 0.7, np.nan]) == (0.7, 0.7, 0.7)
    assert np.isnan(bootstrap_ci([np.nan, np.nan])).all()
    values = [1.0, 2.0, 4.0]
    assert bootstrap_ci(values + [np.nan]) == bootstrap_ci(values)
