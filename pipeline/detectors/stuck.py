"""A stuck sensor: a channel that always changed now repeats the exact same value.

A live analogue sensor's reading nearly always changes from one sample to the next (noise
alone sees to it); a frozen one repeats its last value for ever while the machine goes on. A
channel is *stuck* when it changed on at least ``min_change`` of the readings learned so far
(at least ``MIN_LEARNED`` of them) and has now repeated one value for ``after`` readings in a
row and ``factor`` times longer than any run of repeats it ever ended. A quantised channel
that often repeats (a flow meter in whole l/min) never qualifies, so it cannot alarm this way.

Examples
--------
>>> watch = StuckWatch(after=3)
>>> for i in range(200):
...     x = {"temp": 40.0 + (i % 7) * 0.01, "flow": float(i // 50)}
...     _ = watch.observe(x)
...     watch.learn(x)
>>> [watch.observe({"temp": 40.05, "flow": 4.0}) for _ in range(4)]
[[], [], [], ['temp']]
"""

from __future__ import annotations

from pipeline.detectors.base import shares

__all__ = ["MIN_LEARNED", "StuckWatch", "stuck_shares"]

MIN_LEARNED = 100
"""Learned readings of a channel before it can be called stuck."""


class StuckWatch:
    """Per channel: the current run of identical values, and how often learned ones changed."""

    def __init__(self, after: int, min_change: float = 0.9, factor: int = 3) -> None:
        self.after = after
        self.min_change = min_change
        self.factor = factor
        self._longest: dict[str, int] = {}
        self._last: dict[str, float] = {}
        self._run: dict[str, int] = {}
        self._learned: dict[str, int] = {}
        self._changed: dict[str, int] = {}

    def observe(self, x: dict[str, float]) -> list[str]:
        """Update the runs with ``x`` (once per reading); the channels that are stuck."""
        stuck = []
        for name, value in x.items():
            previous = self._run.get(name, 0)
            run = previous + 1 if self._last.get(name) == value else 0
            if run == 0 and previous > self._longest.get(name, 0):
                self._longest[name] = previous  # a run of repeats that ended: not stuck
            self._last[name], self._run[name] = value, run
            if run >= max(self.after, self.factor * self._longest.get(name, 0)):
                if self._always_changed(name):
                    stuck.append(name)
        return stuck

    def learn(self, x: dict[str, float]) -> None:
        """Count whether each channel of the last observed reading had changed."""
        for name in x:
            self._learned[name] = self._learned.get(name, 0) + 1
            self._changed[name] = self._changed.get(name, 0) + (self._run.get(name, 0) == 0)

    def _always_changed(self, name: str) -> bool:
        """Changed on ``min_change`` of the learned readings before the current run."""
        learned = self._learned.get(name, 0) - self._run.get(name, 0)
        return learned >= MIN_LEARNED and self._changed.get(name, 0) >= self.min_change * learned


def stuck_shares(stuck: list[str]) -> dict[str, float]:
    """The contributions of a reading with ``stuck`` channels: equal shares, by name.

    >>> stuck_shares(["temp", "flow"])
    {'flow': 0.5, 'temp': 0.5}
    """
    return shares(dict.fromkeys(sorted(stuck), 1.0))
