"""A second opinion that can only raise a report the first detector already makes.

``Confirmed(primary, second)`` scores every reading with both (both learn every reading) and
returns the primary's score, except where the primary reports something (its score above
``gate``) and the second detector reports at the same reading: then the larger of the two,
the second's scaled by ``weight``. The second detector alone never alarms: it can only lift
the primary's weak reports that it confirms above the threshold (true or false ones).
With ``lag`` the second's report also confirms a primary report (above ``gate``) at any of the
``lag`` readings before it, and is then the score of the reading it lands on: ARTime decides
on a downsampled step, at its last reading, so its report can trail the reading that
``extremes`` reports by up to a step.
A second detector with an ``opinion()`` method (:class:`Opinion`, e.g.
:class:`~pipeline.detectors.artime_peek.ARTimeAnyPhase`) is asked for it where the primary
reports, instead of its score: ARTime's view of that very reading, whatever its step's phase.
``extremes_artime`` is :class:`~pipeline.detectors.extremes.Extremes` confirmed by
:class:`~pipeline.detectors.artime.ARTime` (the primary reports an event once, and ARTime's
new-cluster report lands on a downsampled step, so the gate looks at the same reading only).

Examples
--------
>>> from pipeline.detectors.zscore import ZScore
>>> detector = Confirmed(ZScore(), ZScore(), gate=0.3)
>>> 0.0 <= detector.score_one({"t": 1.0}) <= 1.0
True
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from pipeline.detectors.base import Detector, TimeAware

__all__ = ["Confirmed", "Opinion"]


@runtime_checkable
class Opinion(Protocol):
    """A detector with a view of its latest reading beyond its score (asked after it)."""

    def opinion(self) -> float: ...


class Confirmed:
    """The primary's score, raised to the second's where both report the same reading."""

    lag = 0
    _since_gate = 1
    _opinion: Opinion | None = None
    """Class defaults: a snapshot pickled before ``lag`` (or the opinion) existed resumes as
    lag 0 (and scores as before)."""

    def __init__(
        self,
        primary: Detector,
        second: Detector,
        gate: float = 0.3,
        weight: float = 1.0,
        lag: int = 0,
    ) -> None:
        self.primary = primary
        self.second = second
        self.gate = gate
        self.weight = weight
        self.lag = lag
        suffix = f",lag={lag}" if lag else ""
        self.name = (
            f"confirmed({primary.name},{second.name},gate={gate:g},weight={weight:g}{suffix})"
        )
        self._since_gate = lag + 1
        """Readings since the primary last scored above ``gate`` (0: this one)."""
        self._timed = [m for m in (primary, second) if isinstance(m, TimeAware)]
        """The members told the time (checked once: a protocol check costs microseconds)."""
        self._opinion = second if isinstance(second, Opinion) else None

    def observe_time(self, ts: int) -> None:
        for member in self._timed:
            member.observe_time(ts)

    def score_one(self, x: dict[str, float]) -> float:
        first = self.primary.score_one(x)
        second = self.second.score_one(x)
        self._since_gate = 0 if first > self.gate else self._since_gate + 1
        if self._since_gate == 0 and self._opinion is not None:
            second = self._opinion.opinion()
        if self._since_gate == 0 or (second > 0.0 and self._since_gate <= self.lag):
            return min(1.0, max(first, self.weight * second))
        return first

    def learn_one(self, x: dict[str, float]) -> None:
        self.primary.learn_one(x)
        self.second.learn_one(x)

    def contributions(self, x: dict[str, float]) -> dict[str, float]:
        return self.primary.contributions(x)

    def is_outlier(self, x: dict[str, float]) -> bool:
        return self.primary.is_outlier(x)
