import numpy as np
import pytest

from ei_tf.stimuli import (
    FREQUENCIES,
    GRID_SHAPE,
    N_GRATINGS,
    ORIENTATIONS_DEG,
    PHASES_DEG,
    make_gratings,
)


def _peak_wavevectors(images):
    """Wave vector (u along columns, v along rows, cycles per image) at each image's 2-D FFT
    peak, refined on a 0.02-cycle grid of the discrete-time Fourier transform around it."""
    batch, n, _ = images.shape
    spectrum = np.abs(np.fft.fft2(images)).reshape(batch, -1)
    row, col = np.unravel_index(np.argmax(spectrum, axis=1), (n, n))
    freqs = np.fft.fftfreq(n) * n
    offsets = np.linspace(-1.0, 1.0, 101)
    us = freqs[col][:, None] + offsets
    vs = freqs[row][:, None] + offsets
    pos = np.arange(n)[None, :, None]
    ex = np.exp(-2j * np.pi * pos * us[:, None, :] / n)
    ey = np.exp(-2j * np.pi * pos * vs[:, None, :] / n)
    zoom = np.abs(np.swapaxes(ey, 1, 2) @ images @ ex).reshape(batch, -1)
    i, j = np.unravel_index(np.argmax(zoom, axis=1), (101, 101))
    idx = np.arange(batch)
    return us[idx, j], vs[idx, i]


def _check_orientation_and_frequency(gratings, subset):
    images = gratings.images[subset, :, :, 0].astype(np.float64) - 127.5
    u, v = _peak_wavevectors(images)
    # Wave vector of G is f * (-sin theta, cos theta) in (x=column, y=row) coordinates.
    orientation = np.rad2deg(np.arctan2(-u, v)) % 180.0
    error = np.abs((orientation - gratings.orientation[subset] + 90.0) % 180.0 - 90.0)
    assert error.max() < 3.0  # orientations are 10 degrees apart
    assert np.abs(np.hypot(u, v) - gratings.frequency[subset]).max() < 0.25


def test_shapes_range_and_grey():
    g = make_gratings(32)
    assert g.images.shape == (N_GRATINGS, 32, 32, 3) == (432, 32, 32, 3)  # Appendix C: 432
    assert g.images.dtype == np.float32
    assert g.images.min() >= 0.0 and g.images.max() <= 255.0
    assert g.images.min() < 1.0 and g.images.max() > 254.0
    np.testing.assert_array_equal(g.images[..., 0], g.images[..., 1])
    np.testing.assert_array_equal(g.images[..., 0], g.images[..., 2])


def test_frequency_major_ordering():
    g = make_gratings(32)
    # Appendix C: 6 spatial frequencies (1, 2, 3, 4, 6, 8), 4 phases 90 degrees apart and 18
    # orientations 10 degrees apart
    assert GRID_SHAPE == (6, 4, 18)
    freq, phase, orient = (g.as_grid(a) for a in (g.frequency, g.phase, g.orientation))
    np.testing.assert_array_equal(freq, np.broadcast_to(FREQUENCIES[:, None, None], GRID_SHAPE))
    np.testing.assert_array_equal(phase, np.broadcast_to(PHASES_DEG[None, :, None], GRID_SHAPE))
    np.testing.assert_array_equal(orient, np.broadcast_to(ORIENTATIONS_DEG, GRID_SHAPE))
    np.testing.assert_array_equal(FREQUENCIES, [1, 2, 3, 4, 6, 8])
    np.testing.assert_array_equal(ORIENTATIONS_DEG, np.arange(0, 180, 10))
    np.testing.assert_array_equal(PHASES_DEG, [0, 90, 180, 270])
    # Images follow the same ordering as the parameters.
    np.testing.assert_array_equal(g.as_grid(g.images)[2, 1, 5], g.images[2 * 72 + 1 * 18 + 5])
    with pytest.raises(ValueError):
        g.as_grid(np.zeros(431))


def test_orientation_and_frequency_from_fft_size_32():
    g = make_gratings(32)
    _check_orientation_and_frequency(g, np.arange(N_GRATINGS))


def test_orientation_and_frequency_from_fft_size_128():
    g = make_gratings(128)
    assert g.images.shape == (432, 128, 128, 3)
    _check_orientation_and_frequency(g, np.flatnonzero(g.phase == 0))


@pytest.mark.parametrize("size", [32, 128])
def test_phase_at_centre_pixel_and_by_fit(size):
    g = make_gratings(size)
    c = size // 2
    phi = np.deg2rad(g.phase)
    np.testing.assert_allclose(g.images[:, c, c, 0], 127.5 + 127.5 * np.cos(phi), atol=1e-4)

    # Least-squares fit of a cos(k.d) + b sin(k.d) = cos(phi) cos(k.d) - sin(phi) sin(k.d),
    # distinguishing the phases 90 and 270 that share the centre value.
    y, x = np.mgrid[0:size, 0:size] - c
    theta = np.deg2rad(g.orientation)[:, None, None]
    k = (2 * np.pi * g.frequency / size)[:, None, None]
    arg = (k * (-x * np.sin(theta) + y * np.cos(theta))).reshape(len(phi), -1)
    signal = (g.images[..., 0].reshape(len(phi), -1) - 127.5) / 127.5
    for i in range(0, len(phi), 7):
        basis = np.stack([np.cos(arg[i]), np.sin(arg[i])], axis=1)
        (a, b), *_ = np.linalg.lstsq(basis, signal[i], rcond=None)
        fitted = np.rad2deg(np.arctan2(-b, a)) % 360.0
        assert abs((fitted - g.phase[i] + 180.0) % 360.0 - 180.0) < 0.01
