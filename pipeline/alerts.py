"""Alert policy: warm-up, threshold and hysteresis, one Alert per change of an asset's state.

An asset's alarm is raised after ``raise_after`` consecutive anomalous readings and cleared
after ``clear_after`` consecutive normal ones; nothing is emitted in between, so a fault gives
exactly one ``raised`` and one ``cleared`` message however long it lasts. The alert names the
channels that contributed most and a severity from the streak's peak score (``low``,
``medium`` from ``medium_threshold``, ``high`` from ``high_threshold``).

With ``adaptive = true`` the threshold is the larger of the configured one and the
``adaptive_quantile`` of the asset's last ``adaptive_window`` scores seen after warm-up while
no alarm is raised: an asset whose detector is noisy needs a higher score to alarm, and the
threshold does not learn from a fault once its alarm is raised.

Examples
--------
>>> from pipeline.settings import AlertSettings
>>> settings = AlertSettings(
...     threshold=0.9, high_threshold=0.95, warmup=0, raise_after=2, clear_after=1
... )
>>> policy = AlertPolicy("press-07", settings)
>>> policy.evaluate(ts=1, score=0.99, channels=["vibration"], model="hst") is None
True
>>> alert = policy.evaluate(ts=2, score=0.99, channels=["vibration"], model="hst")
>>> alert.state, alert.severity, alert.first_ts, alert.alert_id
('raised', 'high', 1, 'press-07:1')
>>> policy.evaluate(ts=3, score=0.1, channels=[], model="hst").state
'cleared'
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Callable, Sequence

from pipeline.messages import Alert, Severity
from pipeline.settings import AlertSettings

__all__ = ["AlertPolicy", "evaluate_round", "top_channels"]


class AlertPolicy:
    """The alarm state machine of one asset."""

    def __init__(self, asset: str, settings: AlertSettings) -> None:
        self.asset = asset
        self.settings = settings
        self.seen = 0
        self.active: Alert | None = None
        self._anomalous_run = 0
        self._normal_run = 0
        self._run_first_ts = 0
        self._run_peak = 0.0
        self._recent: deque[float] = deque()
        self._sorted: list[float] = []

    @property
    def threshold(self) -> float:
        """The threshold in force: the configured one, or higher when ``adaptive``."""
        base = self.settings.threshold
        if not self.settings.adaptive or len(self._sorted) < _MIN_ADAPTIVE:
            return base
        rank = int(self.settings.adaptive_quantile * (len(self._sorted) - 1))
        return max(base, self._sorted[rank])

    @property
    def warming_up(self) -> bool:
        """True while the asset has produced fewer than ``warmup`` readings."""
        return self.seen <= self.settings.warmup

    def is_anomalous(self, score: float) -> bool:
        """Whether ``score`` counts as anomalous (never during warm-up)."""
        return not self.warming_up and score >= self.threshold

    def evaluate(self, ts: int, score: float, channels: Sequence[str], model: str) -> Alert | None:
        """Account for one scored reading; return an Alert when the state changes."""
        self.seen += 1
        anomalous = self.is_anomalous(score)
        if self.settings.adaptive and not self.warming_up and self.active is None:
            self._remember(score)
        if anomalous:
            return self._on_anomalous(ts, score, channels, model)
        return self._on_normal(ts, score, model)

    def _remember(self, score: float) -> None:
        self._recent.append(score)
        bisect.insort(self._sorted, score)
        if len(self._recent) > self.settings.adaptive_window:
            del self._sorted[bisect.bisect_left(self._sorted, self._recent.popleft())]

    def _on_anomalous(
        self, ts: int, score: float, channels: Sequence[str], model: str
    ) -> Alert | None:
        self._normal_run = 0
        if self._anomalous_run == 0:
            self._run_first_ts = ts
            self._run_peak = 0.0
        self._anomalous_run += 1
        self._run_peak = max(self._run_peak, score)
        if self.active is not None or self._anomalous_run < self.settings.raise_after:
            return None
        self.active = Alert(
            alert_id=f"{self.asset}:{self._run_first_ts}",
            asset=self.asset,
            state="raised",
            severity=self._severity(self._run_peak),
            ts=ts,
            first_ts=self._run_first_ts,
            score=round(score, 6),
            channels=list(channels),
            model=model,
            reason=(
                f"{self._anomalous_run} consecutive readings scored >= {round(self.threshold, 6)}"
            ),
        )
        return self.active

    def _on_normal(self, ts: int, score: float, model: str) -> Alert | None:
        self._anomalous_run = 0
        if self.active is None:
            return None
        self._normal_run += 1
        if self._normal_run < self.settings.clear_after:
            return None
        raised, self.active = self.active, None
        self._normal_run = 0
        return Alert(
            alert_id=raised.alert_id,
            asset=self.asset,
            state="cleared",
            severity=raised.severity,
            ts=ts,
            first_ts=raised.first_ts,
            score=round(score, 6),
            channels=raised.channels,
            model=model,
            reason=f"{self.settings.clear_after} consecutive readings below threshold",
        )

    def _severity(self, peak: float) -> Severity:
        if peak >= self.settings.high_threshold:
            return "high"
        medium = self.settings.medium_threshold
        return "medium" if medium is not None and peak >= medium else "low"


def top_channels(contributions: dict[str, float]) -> list[str]:
    """The three channels that contributed most (ties by name): the channels an alert names.

    >>> top_channels({"b": 0.2, "a": 0.2, "c": 0.5, "d": 0.1})
    ['c', 'a', 'b']
    """
    if len(contributions) < 2:
        return list(contributions)
    return sorted(contributions, key=lambda name: (-contributions[name], name))[:3]


def evaluate_round(
    policies: Sequence[AlertPolicy],
    ts: Sequence[int],
    scores: Sequence[float],
    top: Callable[[int], Sequence[str]],
    model: str,
) -> tuple[list[bool], list[Alert | None]]:
    """The alert policies of a batch of scored readings, in order, in one call.

    For each ``i`` what ``policies[i].is_anomalous(scores[i])`` says before the reading, then
    ``policies[i].evaluate(ts[i], scores[i], top(i) if anomalous else (), model)``: the
    anomaly flags and the alerts. The common case (a fixed threshold, no alarm raised, a
    normal reading) is the state machine's own arithmetic inline: about a third of the calls.

    >>> from pipeline.settings import AlertSettings
    >>> policy = AlertPolicy("p", AlertSettings(threshold=0.9, warmup=0, raise_after=2))
    >>> flags, alerts = evaluate_round([policy] * 3, [1, 2, 3], [0.1, 0.95, 0.99],
    ...                                lambda i: ["t"], "m")
    >>> flags, [a and a.state for a in alerts]
    ([False, True, True], [None, None, 'raised'])
    """
    count = len(policies)
    flags = [False] * count
    alerts: list[Alert | None] = [None] * count
    for i, (policy, score) in enumerate(zip(policies, scores, strict=True)):
        settings = policy.settings
        if policy.active is None and not settings.adaptive:
            seen = policy.seen
            # normal, or anomalous while warming up (seen + 1 <= warmup): not flagged either way
            if score < settings.threshold or seen < settings.warmup:
                policy.seen = seen + 1
                policy._anomalous_run = 0
                continue
        anomalous = flags[i] = policy.is_anomalous(score)
        alerts[i] = policy.evaluate(ts[i], score, top(i) if anomalous else (), model)
    return flags, alerts


_MIN_ADAPTIVE = 100
"""Scores remembered before the adaptive threshold departs from the configured one."""
