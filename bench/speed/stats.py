"""Small pure helpers: percentiles and rates.

Examples
--------
>>> percentile([5.0, 1.0, 3.0, 2.0, 4.0], 50)
3.0
>>> percentile(list(range(1, 101)), 99)
99.01
>>> per_core(1000, 0.5)
2000.0
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["per_core", "percentile"]


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) of ``values``, linear between ranks (numpy's default)."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"q must be in [0, 100], got {q}")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def per_core(readings: int, cpu_s: float) -> float:
    """Readings per CPU second (readings per second per core)."""
    if not cpu_s > 0.0:
        raise ValueError(f"no CPU time measured ({cpu_s} s)")
    return readings / cpu_s
