"""The fast ``extremes`` gives exactly what the plain computation gives.

:class:`ReferenceExtremes` is the detector as it was before its per-reading work was trimmed
(per-feature lanes, the suppressor's loop, the window's unchanged sorted values when the value
that leaves equals the one that arrives): context features, each feature's rank window, the
season weight, per-feature and global peak suppression, written plainly. Scores and
contributions must be identical, reading for reading.
"""

from __future__ import annotations

import bisect
import math
import pickle
import random
from collections import deque

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.detectors.base import shares
from pipeline.detectors.context import SeasonalLag
from pipeline.detectors.extremes import Extremes
from pipeline.detectors.suppress import PeakSuppressor

DAY_MS = 86_400_000


class ReferenceWindow:
    def __init__(self, window: int, excess_scale: float, min_rel_range: float) -> None:
        self.window, self.excess_scale, self.min_rel_range = window, excess_scale, min_rel_range
        self.recent: deque[float] = deque()
        self.sorted: list[float] = []

    def surprise(self, value: float) -> float:
        ordered, n = self.sorted, len(self.sorted)
        if n < 30:
            return 0.0
        below = bisect.bisect_left(ordered, value)
        above = n - bisect.bisect_right(ordered, value)
        tail = min(below, above) + (n - below - above) / 2
        rank = -math.log10((tail + 1) / (n + 1)) / math.log10(n + 1)
        if below < n and above < n:
            return rank
        low, high = ordered[0], ordered[-1]
        span = max(high - low, self.min_rel_range * abs(high + low) / 2, 1e-12)
        beyond = value - high if below == n else low - value
        return rank + beyond / span / self.excess_scale

    def learn(self, value: float) -> None:
        self.recent.append(value)
        bisect.insort(self.sorted, value)
        if len(self.recent) > self.window:
            del self.sorted[bisect.bisect_left(self.sorted, self.recent.popleft())]


class ReferenceSuppressor:
    def __init__(self, readings: int) -> None:
        self.readings, self.count = readings, 0
        self.peaks: deque[tuple[int, float]] = deque()

    def filter(self, surprise: float) -> float:
        if self.readings == 0:
            return surprise
        now, span, peaks = self.count, self.readings, self.peaks
        self.count += 1
        while peaks and peaks[0][0] <= now - span:
            peaks.popleft()
        if not surprise > 0.0:
            return 0.0
        reported = all(u * (1.0 - (now - at - 1) / span) < surprise for at, u in peaks)
        while peaks and peaks[-1][1] <= surprise:
            peaks.pop()
        peaks.append((now, surprise))
        return surprise if reported else 0.0


class ReferenceExtremes:
    def __init__(self, window: int, mean_window: int, season_ms: int | None, suppress: int,
                 excess_scale: float, seasons: int, global_suppress: int | None,
                 season_weight: float) -> None:  # fmt: skip
        self.args = (window, excess_scale, 1e-3)
        self.mean_window, self.season_ms, self.seasons = mean_window, season_ms, seasons
        self.suppress, self.season_weight = suppress, season_weight
        self.per_feature = global_suppress is not None
        self.suppressor = ReferenceSuppressor(
            suppress if global_suppress is None else global_suppress
        )
        self.recent: dict[str, deque[float]] = {}
        self.sums: dict[str, float] = {}
        self.lags: dict[str, SeasonalLag] = {}
        self.windows: dict[str, ReferenceWindow] = {}
        self.suppressors: dict[str, ReferenceSuppressor] = {}
        self.ts: int | None = None
        self.last_in: dict[str, float] | None = None
        self.last_features: dict[str, float] = {}
        self.last_surprise: dict[str, float] = {}

    def observe_time(self, ts: int) -> None:
        self.ts = ts

    def features(self, x: dict[str, float], ts: int | None) -> dict[str, float]:
        out: dict[str, float] = {}
        for name, value in x.items():
            out[name] = value
            recent = self.recent.setdefault(name, deque())
            recent.append(value)
            total = self.sums.get(name, 0.0) + value
            if len(recent) > self.mean_window:
                total -= recent.popleft()
            self.sums[name] = total
            if len(recent) == self.mean_window:
                out[f"{name}__mean"] = total / self.mean_window
            if ts is not None and self.season_ms is not None:
                lag = self.lags.get(name)
                if lag is None:
                    lag = self.lags[name] = SeasonalLag(self.season_ms, self.seasons)
                past = lag.observe(ts, value)
                if past is not None:
                    out[f"{name}__season"] = value - past
        return out

    def window(self, name: str) -> ReferenceWindow:
        if name not in self.windows:
            self.windows[name] = ReferenceWindow(*self.args)
        return self.windows[name]

    def score_one(self, x: dict[str, float]) -> float:
        features = self.features(x, self.ts)
        self.ts = None
        surprise = {name: self.window(name).surprise(value) for name, value in features.items()}
        self.last_in, self.last_features, self.last_surprise = x, features, surprise
        reported = []
        for name, u in surprise.items():
            u = u * self.season_weight if name.endswith("__season") else u
            if self.per_feature:
                if name not in self.suppressors:
                    self.suppressors[name] = ReferenceSuppressor(self.suppress)
                u = self.suppressors[name].filter(u)
            reported.append(u)
        u = self.suppressor.filter(max(reported, default=0.0))
        return u / (1.0 + u)

    def learn_one(self, x: dict[str, float]) -> None:
        features = self.last_features if x is self.last_in or x == self.last_in else x
        for name, value in features.items():
            self.window(name).learn(value)

    def contributions(self, x: dict[str, float]) -> dict[str, float]:
        if x is self.last_in or x == self.last_in:
            return shares(self.last_surprise)
        return shares({n: w.surprise(x[n]) for n, w in self.windows.items() if n in x})


def _rows(n: int, seed: int, channels: int) -> list[tuple[int, dict[str, float]]]:
    """Readings every 5 minutes (with gaps): integer-valued counts that repeat (so a value
    leaving a window often equals the one arriving), daily cycles, level shifts and spikes."""
    rng = random.Random(seed)
    rows, ts, shift = [], 0, 0.0
    for _ in range(n):
        ts += 300_000 * (rng.randrange(1, 40) if rng.random() < 0.01 else 1)
        if rng.random() < 0.004:
            shift += rng.choice([-6.0, 6.0])
        day = math.sin(2 * math.pi * (ts % DAY_MS) / DAY_MS)
        x = {"c0": float(round(3 * day + shift + rng.gauss(0, 1)))}
        for c in range(1, channels):
            x[f"c{c}"] = 10.0 * day + rng.gauss(0, 0.5) + (25.0 if rng.random() < 0.002 else 0.0)
        rows.append((ts, x))
    return rows


@settings(max_examples=12, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    channels=st.integers(1, 2),
    per_feature=st.booleans(),
    season_weight=st.sampled_from([1.0, 0.9, 0.5]),
    window=st.sampled_from([40, 300]),
)
def test_extremes_matches_the_reference(
    seed: int, channels: int, per_feature: bool, season_weight: float, window: int
) -> None:
    """Scores, contributions (of the scored reading and of another one) and learning of a
    different reading: identical; a snapshot taken midway carries on identically too."""
    args = dict(window=window, mean_window=5, season_ms=DAY_MS, suppress=30, excess_scale=0.15,
                seasons=3, global_suppress=8 if per_feature else None,
                season_weight=season_weight)  # fmt: skip
    fast, slow = Extremes(**args), ReferenceExtremes(**args)  # type: ignore[arg-type]
    rng = random.Random(seed)
    rows = _rows(1500, seed, channels)
    for i, (ts, x) in enumerate(rows):
        if i == 700:
            fast = pickle.loads(pickle.dumps(fast))
        fast.observe_time(ts)
        slow.observe_time(ts)
        assert fast.score_one(x) == slow.score_one(x), i
        other = dict(x, c0=x["c0"] + 1.0) if rng.random() < 0.05 else x
        assert fast.contributions(other) == slow.contributions(other), i
        fast.learn_one(other)
        slow.learn_one(other)


def test_the_suppressor_matches_the_reference() -> None:
    rng = random.Random(7)
    for readings in (0, 1, 5, 50):
        fast, slow = PeakSuppressor(readings), ReferenceSuppressor(readings)
        for _ in range(3000):
            u = rng.choice([0.0, 0.0, rng.random(), rng.expovariate(1.0), 2.0])
            assert fast.filter(u) == slow.filter(u)
