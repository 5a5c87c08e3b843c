"""The fleets' column-wise reductions give numpy's own bits (scores stay byte-identical)."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.detectors.fleet import _pairwise, last_axis_max, last_axis_sums


def awkward(shape: tuple[int, ...], seed: int) -> np.ndarray:
    """Values of wildly different magnitudes and signs, with signed zeros and a zero row."""
    rng = np.random.default_rng(seed)
    values = rng.standard_normal(shape) * 10.0 ** rng.uniform(-15, 15, shape)
    values[rng.random(shape) < 0.1] = -0.0
    values[rng.random(shape) < 0.05] = 0.0
    values[0] = -0.0
    return values


@pytest.mark.parametrize("width", [*range(1, 40), 63, 64, 65, 127, 128])
def test_sums_are_numpys_bit_for_bit(width):
    for shape in [(200, width), (30, 5, width)]:
        values = awkward(shape, width)
        expected, got = values.sum(axis=-1), last_axis_sums(values)
        assert np.array_equal(expected, got)
        assert np.array_equal(np.signbit(expected), np.signbit(got))
        assert np.array_equal(_pairwise(values), expected)  # the fast way, not the fallback


def test_wide_rows_fall_back_to_numpy():
    values = awkward((20, 300), 1)
    assert np.array_equal(last_axis_sums(values), values.sum(axis=-1))


@pytest.mark.parametrize("width", [1, 2, 7, 8, 9, 33])
def test_maxima_are_numpys(width):
    values = np.abs(awkward((300, width), width))
    values[5, 0] = np.nan
    values[6, -1] = np.inf
    assert np.array_equal(last_axis_max(values), values.max(axis=-1), equal_nan=True)
