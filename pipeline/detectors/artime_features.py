"""``artime``'s input stage: downsample, normalise online, quantise, and describe a window.

Every ``step`` readings, :class:`Downsampler` gives one value: the reading of the block
furthest from a running average (so a one-reading spike survives), or the block's mean when
that is within 10 % of it. :class:`Levels` maps it into ``[0, 1]`` with an online range
(ARTime's NAB runner uses the whole file's minimum and maximum, which is look-ahead; here it is
the range of the readings so far, widened by ``margin`` of its span on each side when the
probation ends, and it grows to hold any later reading beyond it), rounds it to one of
``levels + 1`` levels and snaps it to the running median level when it is within ``chomp``
of it, so small wiggles around the usual level all look the same. :func:`window_features`
describes the last ``window`` levels by their shape (the Haar wavelet transform of the
window scaled to [0, 1], itself scaled to [0, 1]) followed by the levels themselves;
:func:`coded_window` is the same, complement-coded for the ART and memoised: levels are
quantised and a quiet series repeats its windows, so most windows were seen before.

Examples
--------
>>> down = Downsampler(step=2)
>>> [down.push(v) for v in (1.0, 1.0, 1.0, 9.0)]
[None, 1.0, None, 9.0]
>>> levels = Levels(levels=10, chomp=0.0)
>>> levels.observe(0.0); levels.observe(10.0)
>>> levels.level(7.0)
0.7
>>> window_features(np.array([0.0, 0.0, 1.0, 1.0])).round(3).tolist()
[1.0, 0.0, 0.5, 0.5, 0.0, 0.0, 1.0, 1.0]
"""

from __future__ import annotations

from collections import deque
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from pipeline.detectors.art import CodedArray, complement_code

__all__ = ["Downsampler", "Levels", "coded_window", "haar_matrix", "window_features"]

FloatArray = npt.NDArray[np.float64]


class Downsampler:
    """One spike-preserving value per ``step`` readings."""

    def __init__(self, step: int) -> None:
        self.step = step
        self._block: deque[float] = deque([0.0] * step, maxlen=step)
        self._count = 0
        self._average: float | None = None

    def push(self, value: float) -> float | None:
        """The block's value every ``step``-th reading, else ``None``."""
        self._block.append(value)
        self._count += 1
        if self._count % self.step:
            return None
        mean = sum(self._block) / self.step
        self._average = mean if self._average is None else (self._average + mean) / 2.0
        return self._value(mean, self._average)

    def peek(self) -> float:
        """What :meth:`push` would return if the step ended now (nothing changes)."""
        mean = sum(self._block) / self.step
        return self._value(mean, mean if self._average is None else (self._average + mean) / 2.0)

    def _value(self, mean: float, average: float) -> float:
        """The block's extreme farther from ``average``, unless within 10 % of its mean."""
        block = self._block
        high, low = max(block), min(block)
        out = low if abs(high - average) < abs(low - average) else high
        return mean if abs(out - mean) < 0.1 * abs(mean) else out


class Levels:
    """Running-range normalisation, quantisation and a snap to the running median level."""

    def __init__(self, levels: int = 80, chomp: float = 0.075, margin: float = 0.0) -> None:
        self.levels = levels
        self.chomp = chomp
        self.margin = margin
        self._low = np.inf
        self._high = -np.inf
        self._counts = [0] * (levels + 1)
        self._seen = 0
        self._median = 0
        self._below = 0
        """Levels counted below the median level."""

    def observe(self, value: float) -> None:
        """Widen the range to hold ``value`` (call for every reading, before :meth:`level`)."""
        self._low = min(self._low, value)
        self._high = max(self._high, value)

    def freeze(self) -> None:
        """Widen the range seen so far by ``margin`` of its span on each side (probation's end)."""
        span = self._high - self._low
        if np.isfinite(span):
            self._low -= self.margin * span
            self._high += self.margin * span

    def level(self, value: float) -> float:
        """``value``'s level in [0, 1], snapped to the median level when close to it."""
        index = self._index(value)
        return self._snap(index, self._count(index))

    def peek(self, value: float) -> float:
        """:meth:`level` against the current median level, without counting ``value``."""
        return self._snap(self._index(value), self._median)

    def _index(self, value: float) -> int:
        span = self._high - self._low
        scaled = (value - self._low) / span if span > 0.0 else 0.0
        return int(round(min(1.0, max(0.0, scaled)) * self.levels))

    def _snap(self, index: int, median: int) -> float:
        median_level, level = median / self.levels, index / self.levels
        return median_level if abs(level - median_level) < self.chomp else level

    def _count(self, index: int) -> int:
        """Count ``index`` and move the median level to hold the middle count (``seen // 2``)."""
        counts = self._counts
        counts[index] += 1
        self._seen += 1
        if self._seen == 1:
            self._median = index
        elif index < self._median:
            self._below += 1
        middle = self._seen // 2
        while self._below > middle:
            self._median -= 1
            self._below -= counts[self._median]
        while self._below + counts[self._median] <= middle:
            self._below += counts[self._median]
            self._median += 1
        return self._median


def haar_matrix(n: int) -> FloatArray:
    """The orthonormal full-depth Haar transform of length ``n`` (a power of two) as a matrix.

    >>> haar_matrix(2).round(3).tolist()
    [[0.707, 0.707], [0.707, -0.707]]
    """
    if n == 1:
        return np.ones((1, 1))
    half = haar_matrix(n // 2)
    coarse = np.kron(half, [1.0, 1.0]) / np.sqrt(2.0)
    detail = np.kron(np.eye(n // 2), [1.0, -1.0]) / np.sqrt(2.0)
    return np.vstack((coarse, detail))


_HAAR: dict[int, FloatArray] = {}


def _unit(values: FloatArray) -> FloatArray:
    low, high = values.min(), values.max()
    shifted: FloatArray = values - low
    return shifted / (high - low) if high != low else shifted


def window_features(window: FloatArray) -> FloatArray:
    """The window's shape (scaled Haar coefficients of the scaled window), then its levels."""
    n = len(window)
    haar = _HAAR.get(n)
    if haar is None:
        haar = _HAAR[n] = haar_matrix(n)
    out = np.empty(2 * n)
    out[:n] = _unit(haar @ _unit(window))
    out[n:] = window
    return out


@lru_cache(maxsize=8192)
def coded_window(window: tuple[float, ...]) -> CodedArray:
    """:func:`window_features` of ``window``, complement-coded (read-only: it is shared).

    The same window gives the same array object, which
    :meth:`~pipeline.detectors.art.DualVigilanceART.train_coded` matches fastest.

    >>> coded_window((0.0, 0.0, 1.0, 1.0)) is coded_window((0.0, 0.0, 1.0, 1.0))
    True
    """
    x = complement_code(window_features(np.array(window)))
    x.flags.writeable = False
    return x
