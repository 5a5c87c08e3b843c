"""A refractory period: after a report at or above ``level``, ``hold`` readings cannot report.

``Refractory(inner, level, hold)`` passes the inner detector's score through, except that a
score at or above ``level`` within ``hold`` readings of the last one it passed scores 0: the
alarm already stands, and a second, escalating report of the same event is not a new alarm.
Scores below ``level`` always pass, and a dropped report does not extend the hold. Unless
``learn_held``, a dropped report is an outlier (:meth:`is_outlier`): where anomalies are not
learned, it is not learned as normal either. Set
``level`` at (or just below) the alert threshold: then it is the alert policy's "one alarm per
event" on the score column, which is what NAB counts (every alarm row outside a window is a
false positive; only a window's first alarm earns anything).

On NAB's 51 files, 19 of the 92 false-alarm rows of ``configs/nab-artime.toml`` before this
(at its threshold 0.5821) came within 30 readings of an earlier alarm, and no labelled
window's first alarm did.

Examples
--------
>>> from pipeline.detectors.zscore import ZScore
>>> class Scripted(ZScore):
...     def __init__(self, scores):
...         super().__init__()
...         self.scores = iter(scores)
...     def score_one(self, x):
...         return next(self.scores)
>>> detector = Refractory(Scripted([0.7, 0.9, 0.4, 0.8, 0.1, 0.95]), level=0.6, hold=3)
>>> [detector.score_one({"t": 0.0}) for _ in range(6)]
[0.7, 0.0, 0.4, 0.0, 0.1, 0.95]
"""

from __future__ import annotations

from pipeline.detectors.base import Detector, TimeAware

__all__ = ["Refractory"]


class Refractory:
    """The inner detector's score; a report at or above ``level`` within ``hold`` readings
    of the last passed one scores 0."""

    _held = False
    """Whether the latest score was a held report."""

    def __init__(self, inner: Detector, level: float, hold: int, learn_held: bool = True) -> None:
        if hold < 1:
            raise ValueError(f"hold must be at least 1 reading, got {hold}")
        self.inner = inner
        self.level = level
        self.hold = hold
        self.learn_held = learn_held
        """Whether a held report may be learned (``model.learn_anomalies``): where anomalies
        are not learned, it is an outlier, as the report it replaces would be an anomaly."""
        self.name = f"refractory({inner.name},level={level:g},hold={hold})"
        self._timed = inner if isinstance(inner, TimeAware) else None
        self._since = hold + 1
        """Readings since the last passed report (more than ``hold``: none is held)."""

    def observe_time(self, ts: int) -> None:
        if self._timed is not None:
            self._timed.observe_time(ts)

    def score_one(self, x: dict[str, float]) -> float:
        score = self.inner.score_one(x)
        self._since += 1
        self._held = False
        if score < self.level:
            return score
        if self._since <= self.hold:
            self._held = True
            return 0.0
        self._since = 0
        return score

    def learn_one(self, x: dict[str, float]) -> None:
        self.inner.learn_one(x)

    def contributions(self, x: dict[str, float]) -> dict[str, float]:
        return self.inner.contributions(x)

    def is_outlier(self, x: dict[str, float]) -> bool:
        return (self._held and not self.learn_held) or self.inner.is_outlier(x)
