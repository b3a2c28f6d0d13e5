"""Static oriented gratings used to measure orientation selectivity (paper Appendix C).

Each grating is

    G(x, y) = cos{k [-(x - x0) sin(theta) + (y - y0) cos(theta)] + phi},   k = 2 pi f / size,

with ``x`` the column index and ``y`` the row index of the image array, ``f`` the spatial
frequency in cycles per image and ``(x0, y0) = (size // 2, size // 2)``.  The centre is the
pixel ``size // 2`` so that it coincides with the model's "centre unit" (feature-map index
``H // 2``); at that pixel every grating equals ``cos(phi)``.  ``theta = 0`` gives a grating
whose luminance varies along the rows (horizontal stripes); increasing ``theta`` rotates the
wave vector ``(-sin theta, cos theta)`` (in ``(x, y)`` coordinates).

Images are grey: the same value ``127.5 + 127.5 G`` in all three RGB channels, i.e. raw
0-255 pixel values, to be passed through the same preprocessing as the training images.

Ordering is frequency-major: image ``i`` has frequency index ``i // (N_PHASE * N_ORIENT)``,
phase index ``(i // N_ORIENT) % N_PHASE`` and orientation index ``i % N_ORIENT``, so any
array whose leading axis runs over the 432 gratings reshapes to
``[N_FREQ, N_PHASE, N_ORIENT, ...]`` (see :meth:`Gratings.as_grid`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ORIENTATIONS_DEG = np.arange(0.0, 180.0, 10.0)  # 18 orientations, 10 degrees apart
FREQUENCIES = np.array([1.0, 2.0, 3.0, 4.0, 6.0, 8.0])  # cycles per image
PHASES_DEG = np.arange(0.0, 360.0, 90.0)  # 4 phases, 90 degrees apart

N_ORIENT = len(ORIENTATIONS_DEG)
N_FREQ = len(FREQUENCIES)
N_PHASE = len(PHASES_DEG)
GRID_SHAPE = (N_FREQ, N_PHASE, N_ORIENT)
N_GRATINGS = N_FREQ * N_PHASE * N_ORIENT  # 432


@dataclass(frozen=True)
class Gratings:
    """The 432 gratings and their parameters, in frequency-major order.

    Attributes:
        images: float32 ``[432, size, size, 3]`` raw pixel values in ``[0, 255]``.
        orientation: ``[432]`` orientation ``theta`` in degrees.
        frequency: ``[432]`` spatial frequency in cycles per image.
        phase: ``[432]`` phase ``phi`` in degrees.
    """

    images: np.ndarray
    orientation: np.ndarray
    frequency: np.ndarray
    phase: np.ndarray

    def as_grid(self, values: np.ndarray) -> np.ndarray:
        """Reshape ``values`` with leading axis 432 to ``[N_FREQ, N_PHASE, N_ORIENT, ...]``."""
        values = np.asarray(values)
        if values.shape[0] != N_GRATINGS:
            raise ValueError(f"expected leading axis of {N_GRATINGS}, got {values.shape}")
        return values.reshape(GRID_SHAPE + values.shape[1:])


def make_gratings(size: int = 32) -> Gratings:
    """Build the 432 grey gratings of Appendix C for ``size`` x ``size`` RGB inputs."""
    freq, phase, orient = np.meshgrid(FREQUENCIES, PHASES_DEG, ORIENTATIONS_DEG, indexing="ij")
    freq, phase, orient = freq.ravel(), phase.ravel(), orient.ravel()

    centre = size // 2
    y, x = np.mgrid[0:size, 0:size].astype(np.float64) - centre
    theta = np.deg2rad(orient)[:, None, None]
    k = (2.0 * np.pi * freq / size)[:, None, None]
    phi = np.deg2rad(phase)[:, None, None]
    grating = np.cos(k * (-x * np.sin(theta) + y * np.cos(theta)) + phi)

    grey = (127.5 + 127.5 * grating).astype(np.float32)
    images = np.repeat(grey[..., None], 3, axis=-1)
    return Gratings(images=images, orientation=orient, frequency=freq, phase=phase)
