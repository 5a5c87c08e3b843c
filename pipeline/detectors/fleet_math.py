"""Exact array arithmetic for fleet rounds: numpy's results, bit for bit, in fewer calls.

Rounding as Python rounds, ``any``/``all`` without their Python wrappers, and sums and maxima
over a short last axis as whole-column operations (numpy's own reductions run one inner loop
per output element there).

Examples
--------
>>> import numpy as np
>>> python_round(np.array([0.12345, 0.5, 2.675]), 2)
array([0.12, 0.5 , 2.67])
"""

from __future__ import annotations

import functools
import sys
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "Array",
    "all_true",
    "any_true",
    "last_axis_max",
    "last_axis_sums",
    "python_round",
    "row_totals",
]

Array = npt.NDArray[Any]


def python_round(values: Array, ndigits: int) -> Array:
    """``round(v, ndigits)`` of each value, exactly as Python rounds (correctly, half to even).

    ``rint(v * 10**n) / 10**n`` is Python's result unless ``v * 10**n`` lies within rounding
    error of a half: those few values are rounded by Python itself.
    """
    scale = 10.0**ndigits
    scaled = values * scale
    rounded: Array = np.rint(scaled) / scale
    near_half = np.abs(scaled - np.floor(scaled) - 0.5) < 1e-6
    if any_true(near_half):
        for index in np.flatnonzero(near_half):
            rounded.flat[index] = round(float(values.flat[index]), ndigits)
    return rounded


def any_true(mask: Array) -> bool:
    """``mask.any()`` of a boolean array, by ``count_nonzero`` (a C call: ``any``'s Python
    wrapper costs ~1.6 µs a call, several times a round).

    >>> any_true(np.array([False, True])), any_true(np.zeros(0, dtype=np.bool_))
    (True, False)
    """
    return bool(np.count_nonzero(mask))


def all_true(mask: Array) -> bool:
    """``mask.all()`` of a boolean array (see :func:`any_true`).

    >>> all_true(np.array([[True], [False]])), all_true(np.zeros(0, dtype=np.bool_))
    (False, True)
    """
    return bool(np.count_nonzero(mask) == mask.size)


def last_axis_sums(values: Array) -> Array:
    """``values.sum(axis=-1)``, the same bits, in a few whole-column additions.

    numpy sums a short last axis with one inner loop per output element (a round's ``k x c x
    c`` products: ~0.6 ms of 1,000 x 8 x 8); this adds its columns as numpy's pairwise
    summation does (from 0, sequentially below 8 terms, else eight running sums combined
    pairwise, then the rest), which is what ``sum`` gives up to 128 terms. The first use of a
    width checks that on a probe and keeps ``sum`` if this numpy adds otherwise.

    >>> x = np.array([[1e16, 1.0, -1e16, 1.0, 3.0, 1e-3, 2.0, 5.0, 7.0], [-0.0] * 9])
    >>> last_axis_sums(x).tolist() == x.sum(axis=-1).tolist()
    True
    """
    width = values.shape[-1]
    if not _pairwise_matches(width):
        summed: Array = values.sum(axis=-1)
        return summed
    return _pairwise(values)


def _pairwise(values: Array) -> Array:
    width = values.shape[-1]
    columns = [values[..., j] for j in range(width)]  # views; the sums are new arrays
    if width < 8:
        total: Array = np.zeros(values.shape[:-1])
        for column in columns:
            total += column
        return total
    runs = columns[:8]
    end = width - width % 8
    for start in range(8, end, 8):
        runs = [runs[j] + columns[start + j] for j in range(8)]
    # ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7)), then 0.0 + that (-0.0 becomes 0.0)
    total = runs[0] + runs[1]
    total += runs[2] + runs[3]
    upper = runs[4] + runs[5]
    upper += runs[6] + runs[7]
    total += upper
    total += 0.0
    for j in range(end, width):
        total += columns[j]
    return total


@functools.cache
def _pairwise_matches(width: int) -> bool:
    """Whether :func:`_pairwise` gives ``sum``'s bits for ``width`` terms (on a probe)."""
    if not 0 < width <= 128:
        return False
    rng = np.random.default_rng(width)
    probe = rng.standard_normal((64, width)) * 10.0 ** rng.uniform(-12, 12, (64, width))
    probe[rng.random((64, width)) < 0.1] = -0.0
    probe[0] = -0.0
    expected, got = probe.sum(axis=-1), _pairwise(probe)
    return bool(
        np.array_equal(expected, got) and np.array_equal(np.signbit(expected), np.signbit(got))
    )


def last_axis_max(values: Array) -> Array:
    """``values.max(axis=-1)`` of non-negative values (or NaN), column by column (see
    :func:`last_axis_sums`: the same slow inner loop per element).

    >>> last_axis_max(np.array([[1.0, 3.0, 2.0], [0.0, np.nan, 1.0]])).tolist()
    [3.0, nan]
    """
    width = values.shape[-1]
    if width == 1:
        return values[..., 0].copy()
    top: Array = np.maximum(values[..., 0], values[..., 1])
    for j in range(2, width):
        np.maximum(top, values[..., j], out=top)
    return top


def row_totals(terms: Array) -> Array:
    """Python's ``sum()`` of each row (left to right; compensated from Python 3.12 on)."""
    if sys.version_info >= (3, 12):
        return np.array([sum(row) for row in terms.tolist()], dtype=np.float64)
    total = np.zeros(terms.shape[0])
    for column in range(terms.shape[1]):
        total = total + terms[:, column]
    return total
