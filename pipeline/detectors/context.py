"""Context features of one channel: its value, its recent mean, its change since one season ago.

- ``mean``: the mean of the channel's last ``mean_window`` readings (this one included), which
  moves on a sustained shift that single readings hide in their noise;
- ``season``: the value minus the channel's value one ``season_ms`` earlier (a day, say),
  which flags a daily pattern that breaks while every value stays in its usual range.

The season's history keeps the first reading of each of ``SLOTS`` slots per season, so its
memory is bounded whatever the sampling rate; a reading without one a season earlier (the
first season, or a gap) has no ``season`` feature. Time comes from the readings' timestamps
(epoch ms), never from the wall clock.

Examples
--------
>>> context = ContextFeatures(mean_window=2, season_ms=1440 * 60_000)
>>> context.transform_one({"t": 1.0}, ts=0)
{'t': 1.0}
>>> context.transform_one({"t": 3.0}, ts=60_000)
{'t': 3.0, 't__mean': 2.0}
>>> context.transform_one({"t": 4.0}, ts=1440 * 60_000)
{'t': 4.0, 't__mean': 3.5, 't__season': 3.0}
"""

from __future__ import annotations

from collections import deque

__all__ = ["SLOTS", "ContextFeatures", "SeasonalLag"]

SLOTS = 1440
"""Slots per season in the seasonal history (one a minute for a daily season)."""


class SeasonalLag:
    """A channel's values at the same time of the last ``seasons`` seasons, to the slot.

    ``observe`` returns, of those past values, the one closest to the new value: a pattern
    that any recent season shared is not new, and one odd season leaves no echo a season on.

    >>> lag = SeasonalLag(season_ms=1440 * 1000, seasons=2)
    >>> [lag.observe(day * 1440 * 1000, value) for day, value in enumerate((5.0, 9.0, 6.0))]
    [None, 5.0, 5.0]
    >>> lag.observe(1441 * 1000, 7.0) is None
    True
    """

    __slots__ = ("slot_ms", "season_slots", "seasons", "_values", "_order")

    def __init__(self, season_ms: int, seasons: int = 1) -> None:
        self.slot_ms = max(season_ms // SLOTS, 1)
        self.season_slots = season_ms // self.slot_ms
        self.seasons = seasons
        self._values: dict[int, float] = {}
        self._order: deque[int] = deque()

    def observe(self, ts: int, value: float) -> float | None:
        """The closest past season's value at ``ts`` (``None`` if none), then remember ``value``."""
        slot = ts // self.slot_ms
        values, order, season = self._values, self._order, self.season_slots
        horizon = slot - self.seasons * season
        while order and order[0] < horizon:
            del values[order.popleft()]
        past = None
        for back in range(1, self.seasons + 1):
            candidate = values.get(slot - back * season)
            if candidate is not None and (
                past is None or abs(value - candidate) < abs(value - past)
            ):
                past = candidate
        if slot not in values:
            values[slot] = value
            order.append(slot)
        return past


class ContextFeatures:
    """Per channel: the value, ``__mean`` and (with timestamps) ``__season``."""

    def __init__(self, mean_window: int, season_ms: int | None, seasons: int = 1) -> None:
        self.mean_window = mean_window
        self.season_ms = season_ms
        self.seasons = seasons
        self._recent: dict[str, deque[float]] = {}
        self._sums: dict[str, float] = {}
        self._lags: dict[str, SeasonalLag] = {}
        self._names: dict[str, tuple[str, str]] = {}
        """Each channel's ``__mean`` and ``__season`` feature names (made once)."""

    def transform_one(self, x: dict[str, float], ts: int | None) -> dict[str, float]:
        """The features of ``x``; updates the rolling means and the seasonal history."""
        out: dict[str, float] = {}
        seasonal = ts is not None and self.season_ms is not None
        names = self._names
        for name, value in x.items():
            out[name] = value
            named = names.get(name)
            if named is None:
                named = names[name] = (f"{name}__mean", f"{name}__season")
            mean = self._mean(name, value)
            if mean is not None:
                out[named[0]] = mean
            if seasonal:
                lag = self._lags.get(name)
                if lag is None:
                    assert self.season_ms is not None
                    lag = self._lags[name] = SeasonalLag(self.season_ms, self.seasons)
                past = lag.observe(ts, value)  # type: ignore[arg-type]
                if past is not None:
                    out[named[1]] = value - past
        return out

    def __getstate__(self) -> dict[str, object]:
        state = self.__dict__.copy()
        del state["_names"]  # derived: snapshots stay as they were
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._names = {}

    def _mean(self, name: str, value: float) -> float | None:
        recent = self._recent.get(name)
        if recent is None:
            recent = self._recent[name] = deque()
            self._sums[name] = 0.0
        recent.append(value)
        total = self._sums[name] + value
        if len(recent) > self.mean_window:
            total -= recent.popleft()
        self._sums[name] = total
        return total / self.mean_window if len(recent) == self.mean_window else None
