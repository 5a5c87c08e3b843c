"""The ``features`` stage: per-channel value, change, rolling mean and rolling std.

It keeps the last ``window`` readings of every channel, whether or not they were learned, so
``delta`` is always the change from the previous reading. ``transform_one`` uses only the
readings before ``x``; ``update`` then appends ``x``.

Examples
--------
>>> stage = FeatureStage(kinds=("value", "delta", "mean"), window=2)
>>> stage.transform_one({"t": 1.0})
{'t': 1.0, 't__delta': 0.0, 't__mean': 1.0}
>>> stage.update({"t": 1.0})
>>> stage.transform_one({"t": 4.0})
{'t': 4.0, 't__delta': 3.0, 't__mean': 2.5}
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence

__all__ = ["FeatureStage", "Smoother"]


class FeatureStage:
    """Lags, deltas and rolling statistics of each channel over the last ``window`` readings."""

    def __init__(self, kinds: Sequence[str], window: int) -> None:
        self.kinds = tuple(kinds)
        self.window = window
        self._history: dict[str, deque[float]] = {}

    def transform_one(self, x: dict[str, float]) -> dict[str, float]:
        """The features of ``x`` given the readings before it."""
        out: dict[str, float] = {}
        for name, value in x.items():
            past = self._history.get(name)
            if "value" in self.kinds:
                out[name] = value
            if "delta" in self.kinds:
                out[f"{name}__delta"] = value - past[-1] if past else 0.0
            if "mean" in self.kinds or "std" in self.kinds:
                recent = [*(past or ()), value][-self.window :]
                mean = sum(recent) / len(recent)
                if "mean" in self.kinds:
                    out[f"{name}__mean"] = mean
                if "std" in self.kinds:
                    var = sum((v - mean) ** 2 for v in recent) / len(recent)
                    out[f"{name}__std"] = math.sqrt(var)
        return out

    def update(self, x: dict[str, float]) -> None:
        """Append ``x`` to the history (call once per reading, after ``transform_one``)."""
        for name, value in x.items():
            past = self._history.get(name)
            if past is None:
                past = self._history[name] = deque(maxlen=self.window)
            past.append(value)


class Smoother:
    """The mean of each channel over its last ``window`` readings, ``x`` included.

    >>> smoother = Smoother(2)
    >>> smoother.smooth_one({"t": 1.0}), smoother.smooth_one({"t": 3.0})
    ({'t': 1.0}, {'t': 2.0})
    """

    def __init__(self, window: int) -> None:
        self.window = window
        self._history: dict[str, deque[float]] = {}
        self._sums: dict[str, float] = {}

    def smooth_one(self, x: dict[str, float]) -> dict[str, float]:
        """Append ``x`` and return the smoothed reading (identity when ``window`` is 1)."""
        if self.window == 1:
            return x
        out = {}
        for name, value in x.items():
            past = self._history.get(name)
            if past is None:
                past = self._history[name] = deque()
                self._sums[name] = 0.0
            past.append(value)
            total = self._sums[name] + value
            if len(past) > self.window:
                total -= past.popleft()
            self._sums[name] = total
            out[name] = total / len(past)
        return out
