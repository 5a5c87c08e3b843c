"""Per-channel robust z-scores over a rolling window of learned readings (median / IQR).

Each channel keeps its last ``window`` learned values in time order and sorted; its z-score is
``(x - median) / (IQR / 1.349)``, which a fault cannot drag along the way a mean and standard
deviation are dragged. The raw score is the root mean square of the channels' z-scores.

Examples
--------
>>> robust = RobustZ(window=50)
>>> for i in range(50):
...     robust.learn_one({"t": 20.0 + (i % 5) * 0.1, "p": 1.0 + (i % 3) * 0.01})
>>> robust.raw_one({"t": 20.2, "p": 1.01}) < 2.0, robust.raw_one({"t": 25.0, "p": 1.01}) > 10
(True, True)
>>> max(robust.deviations({"t": 25.0, "p": 1.01}).items(), key=lambda kv: kv[1])[0]
't'
"""

from __future__ import annotations

import bisect
import math
from collections import deque

__all__ = ["RobustZ"]

_MIN_COUNT = 10
_IQR_TO_SIGMA = 1.349


class RobustZ:
    """Rolling median/IQR z-scores of every channel."""

    def __init__(self, window: int, min_rel_std: float = 1e-4) -> None:
        self.window = window
        self.min_rel_std = min_rel_std
        self._recent: dict[str, deque[float]] = {}
        self._sorted: dict[str, list[float]] = {}

    def deviations(self, x: dict[str, float]) -> dict[str, float]:
        """Absolute robust z-score of each channel of ``x`` (channels not yet known skipped)."""
        out = {}
        for name, value in x.items():
            ordered = self._sorted.get(name)
            if ordered is None or len(ordered) < _MIN_COUNT:
                continue
            n = len(ordered)
            median = ordered[n // 2]
            spread = (ordered[(3 * n) // 4] - ordered[n // 4]) / _IQR_TO_SIGMA
            scale = max(spread, self.min_rel_std * abs(median), 1e-9)
            out[name] = abs(value - median) / scale
        return out

    def raw_one(self, x: dict[str, float]) -> float | None:
        """Root mean square of the channels' z-scores (``None`` before any channel is ready)."""
        z = self.deviations(x)
        return math.sqrt(sum(v * v for v in z.values()) / len(z)) if z else None

    def max_z(self, x: dict[str, float]) -> float:
        return max(self.deviations(x).values(), default=0.0)

    def learn_one(self, x: dict[str, float]) -> None:
        for name, value in x.items():
            recent = self._recent.get(name)
            if recent is None:
                recent = self._recent[name] = deque()
                self._sorted[name] = []
            ordered = self._sorted[name]
            recent.append(value)
            bisect.insort(ordered, value)
            if len(recent) > self.window:
                del ordered[bisect.bisect_left(ordered, recent.popleft())]
