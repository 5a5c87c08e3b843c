"""Welford's running mean and variance, shared by the detectors and the per-asset model."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["RunningMoments"]


class RunningMoments:
    """Welford's running mean and variance of one value.

    >>> m = RunningMoments()
    >>> for v in (1.0, 2.0, 3.0):
    ...     m.update(v)
    >>> m.mean, m.std()
    (2.0, 1.0)
    """

    __slots__ = ("count", "mean", "_m2")

    def __init__(self) -> None:
        self.count = 0
        self.mean = 0.0
        self._m2 = 0.0

    def __getstate__(self) -> tuple[int, float, float]:
        return self.count, self.mean, self._m2

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2:  # pickled slots, as older snapshots hold
            state = tuple(state[1][name] for name in ("count", "mean", "_m2"))
        self.count, self.mean, self._m2 = state

    def update(self, value: float) -> None:
        self.count += 1
        delta = value - self.mean
        self.mean += delta / self.count
        self._m2 += delta * (value - self.mean)

    def std(self) -> float:
        return math.sqrt(self._m2 / (self.count - 1)) if self.count > 1 else 0.0
