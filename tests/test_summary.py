import numpy as np

from ei_tf.analysis.summary import mean_ci


def test_ci_contains_mean():
    values = np.array([0.31, 0.42, 0.38, 0.55, 0.47])
    mean, low, high = mean_ci(values)
    assert mean == values.mean()
    assert values.min() <= low < mean < high <= values.max()
    narrow = mean_ci(values, confidence=0.5)
    assert low < narrow[1] < narrow[2] < high


def test_ci_reproducible_and_spread_dependent():
    values = np.array([1.0, 2.0, 4.0, 3.0, 5.0])
    assert mean_ci(values) == mean_ci(values)  # the fixed seed: the same interval each time
    _, low, high = mean_ci(values)
    _, low2, high2 = mean_ci(values * 10)
    np.testing.assert_allclose([low2, high2], [10 * low, 10 * high])


def test_single_value_and_nans():
    assert mean_ci([0.7]) == (0.7, 0.7, 0.7)
    assert mean_ci([np.nan, 0.7, np.nan]) == (0.7, 0.7, 0.7)
    assert np.isnan(mean_ci([np.nan, np.nan])).all()
    values = [1.0, 2.0, 4.0]
    assert mean_ci(values + [np.nan]) == mean_ci(values)
