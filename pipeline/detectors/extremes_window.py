"""How unusual a value is among the last ``window`` values of one feature: rank, then range.

Inside the window's range the surprise is the two-sided rank tail ``-log10(p)`` (ties count
half), divided by its largest value ``log10(n + 1)``, so it lies in [0, 1]: 1 at a lone extreme. A
value beyond the range adds how far beyond it lies, as a fraction of the range, divided by
``excess_scale``: a new maximum 10 % of the range above the old one scores ``1 + 0.1 /
excess_scale``. A stream's first new extreme after a change scores high and later values at
the new level score less and less as the window fills with them.

Examples
--------
>>> window = ExtremesWindow(window=100)
>>> for i in range(100):
...     window.learn(float(i % 10))
>>> [round(window.surprise(v), 3) for v in (4.5, 9.0, 10.8)]
[0.148, 0.612, 3.0]
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections import deque
from math import log10

__all__ = ["ExtremesWindow"]

MIN_COUNT = 30
"""Values a window holds before it scores anything (0 until then)."""


class ExtremesWindow:
    """The last ``window`` values in time order and sorted; a surprise in [0, inf)."""

    __slots__ = ("window", "excess_scale", "min_rel_range", "_recent", "_sorted")

    def __init__(self, window: int, excess_scale: float = 0.1, min_rel_range: float = 1e-3) -> None:
        self.window = window
        self.excess_scale = excess_scale
        self.min_rel_range = min_rel_range
        self._recent: deque[float] = deque()
        self._sorted: list[float] = []

    def __getstate__(self) -> tuple[int, float, float, list[float], list[float]]:
        return (
            self.window,
            self.excess_scale,
            self.min_rel_range,
            list(self._recent),
            self._sorted,
        )

    def __setstate__(self, state: tuple[int, float, float, list[float], list[float]]) -> None:
        self.window, self.excess_scale, self.min_rel_range, recent, self._sorted = state
        self._recent = deque(recent)

    def __len__(self) -> int:
        return len(self._sorted)

    def surprise(self, value: float) -> float:
        """Rank surprise in (0, 1] inside the range, ``1 + excess / scale`` beyond it."""
        ordered = self._sorted
        n = len(ordered)
        if n < MIN_COUNT:
            return 0.0
        below = bisect_left(ordered, value)
        above = n - bisect_right(ordered, value, below)
        tied = n - below - above  # a value shared by many readings is not an extreme
        tail = (below if below < above else above) + tied / 2
        rank = -log10((tail + 1) / (n + 1)) / log10(n + 1)
        if below < n and above < n:
            return rank
        low, high = ordered[0], ordered[-1]
        span = max(high - low, self.min_rel_range * abs(high + low) / 2, 1e-12)
        beyond = value - high if below == n else low - value
        return rank + beyond / span / self.excess_scale

    def learn(self, value: float) -> None:
        """Add ``value``; forget the oldest beyond ``window``."""
        recent = self._recent
        recent.append(value)
        if len(recent) <= self.window:
            insort(self._sorted, value)
            return
        oldest = recent.popleft()
        if oldest != value:  # else the sorted values stay as they are
            ordered = self._sorted
            insort(ordered, value)
            del ordered[bisect_left(ordered, oldest)]
