"""Page's CUSUM on the condition drift's residuals, and which of its statistics warn of failures.

:class:`~pipeline.supervised.condition.ConditionDrift` turns every channel's residual (what
the operating condition does not explain) into about standard normal, white readings on a
healthy machine. Slow wear shifts their mean by a fraction of a standard deviation: too little
to see in one reading, but Page's test (the one-sided CUSUM ``S = max(0, S + z - k)``, one
upward and one downward per channel) accumulates it and crosses ``h`` after a delay that
shrinks as the shift grows, while on white noise it crosses only every
:func:`in_control_arl` readings on average. ``k`` is about half the shift to detect.

Which statistics mean "this machine will fail" is learned from the labels, per machine type
(:class:`DriftRecord`): a statistic's first crossing since the asset's last repair is a
*warning* when it came before the detector alarmed and a failure follows within the horizon,
*false* once the horizon passed without one (:class:`Crossings`). A statistic raises fault
alerts once it warned ``min_warnings`` times with at most ``false_ratio`` false crossings per
warning: channels a machine type's wear never moves, or that drift on a healthy machine (a
bearing cooling after a repair, a residual the condition leaves correlated), never earn
that trust.

Examples
--------
>>> s = 0.0
>>> for z in (0.2, 1.0, 1.0, -3.0):
...     s = page_step(s, z, 0.35)
>>> round(s, 2)
0.0
>>> f"{in_control_arl(0.35, 20.0):.1e}"  # readings between false crossings, white noise
'1.1e+07'
>>> record = DriftRecord()
>>> crossings = Crossings()
>>> crossings.see(1_000, ["flow_m3_h-"])
>>> crossings.on_failure(100_000, 600_000, record)
>>> record.trusted("flow_m3_h-", min_warnings=1, false_ratio=0.25)
True
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

__all__ = ["Crossings", "DriftRecord", "in_control_arl", "page_step", "record_of"]


def page_step(s: float, z: float, k: float) -> float:
    """One step of an upward one-sided CUSUM (for the downward one, pass ``-z``)."""
    return max(0.0, s + z - k)


def in_control_arl(k: float, h: float) -> float:
    """Siegmund's approximation of the average run length to a crossing of ``h`` on N(0, 1).

    >>> in_control_arl(0.5, 4.0) > 300  # the classic k = 0.5, h = 4: about 336
    True
    """
    b = h + 1.166
    if k == 0:
        return b * b
    return (math.exp(2 * k * b) - 2 * k * b - 1) / (2 * k * k)


class DriftRecord:
    """Per statistic (``<channel>+`` / ``<channel>-``) of a machine type: warnings, false."""

    def __init__(self) -> None:
        self.counts: dict[str, list[int]] = {}

    def add(self, statistic: str, warned: bool) -> None:
        """Count one resolved first crossing."""
        counts = self.counts.setdefault(statistic, [0, 0])
        counts[0 if warned else 1] += 1

    def trusted(self, statistic: str, min_warnings: int, false_ratio: float) -> bool:
        """Has ``statistic`` warned often enough, with few enough false crossings?"""
        warned, false = self.counts.get(statistic, (0, 0))
        return warned >= min_warnings and false <= false_ratio * warned


class Crossings:
    """One asset's first crossings since its last repair, awaiting their label (bounded:
    one per statistic).

    Only crossings before the detector alarms count: after it, the fault is under way and
    every channel it moves crosses, which says nothing of what foretells it.
    """

    def __init__(self) -> None:
        self.first: dict[str, int] = {}
        self.resolved: set[str] = set()
        """Statistics whose first crossing since the repair was already counted (a CUSUM
        stays above ``h`` once it crossed: counted again, one long drift would be false
        every horizon and a real early warner never trusted)."""
        self.anomalous = 0
        """Consecutive readings the detector called anomalous."""
        self.detected = False
        """The detector alarmed since the last repair (no more crossings are counted)."""

    def detector(self, anomaly: bool, raise_after: int) -> None:
        """The detector's verdict on the latest reading (it alarms after ``raise_after``)."""
        self.anomalous = self.anomalous + 1 if anomaly else 0
        self.detected = self.detected or self.anomalous >= raise_after

    def see(self, ts: int, statistics: Iterable[str]) -> None:
        """The statistics at or above ``h`` at ``ts``."""
        if self.detected:
            return
        for name in statistics:
            if name not in self.resolved:
                self.first.setdefault(name, ts)

    def expire(self, ts: int, horizon_ms: int, record: DriftRecord) -> bool:
        """Crossings older than ``horizon_ms`` without a failure are false (any: True)."""
        old = [name for name, first in self.first.items() if ts - first > horizon_ms]
        for name in old:
            record.add(name, warned=False)
            del self.first[name]
        self.resolved.update(old)
        return bool(old)

    def on_failure(self, ts: int, horizon_ms: int, record: DriftRecord) -> None:
        """A failure at ``ts``: the crossings of its horizon warned, older ones were false;
        later ones (seen while its label was on its way) belong to the stopped machine."""
        for name, first in self.first.items():
            if first <= ts:
                record.add(name, warned=ts - first <= horizon_ms)
        self.resolved.update(self.first)
        self.first.clear()

    def clear(self) -> None:
        """The asset was repaired: its statistics start again from 0."""
        self.first.clear()
        self.resolved.clear()
        self.anomalous, self.detected = 0, False


def record_of(models: Any) -> DriftRecord:
    """A machine type's record, kept on its models (created on first use, so snapshots of
    models made before it restore)."""
    record = getattr(models, "drift_record", None)
    if record is None:
        record = models.drift_record = DriftRecord()
    assert isinstance(record, DriftRecord)
    return record
