"""Per-asset features for the fleet-wide models: each channel relative to the asset's own level.

Assets of one machine type run at different levels (each draws its own nominal values), so
a model shared by the type sees every channel as a deviation from the asset's slowly learned
healthy level, in units of its healthy spread: ``z`` of a fast moving average and ``trend``
(fast minus a slower average), plus the detector's calibrated score, its moving average, the
log of the largest ``|z|``, and in which band of durations (0 to H/8, H/8 to H/4, ... 8 H and
more, for the horizon H) the moving score has been high: how long the symptom has lasted.
The healthy level learns only from readings the detector does not call anomalous.

Examples
--------
>>> features = AssetFeatures(baseline_readings=100, horizon_s=120)
>>> for k in range(200):
...     x = features.update(k * 1000, {"t": 50.0 + (k % 2)}, score=0.1, learn=True)
>>> len(x), [name for name in x if name.startswith("symptom")][:3]
(13, ['symptom>0H', 'symptom>0.125H', 'symptom>0.25H'])
>>> abs(x["t.z"]) < 2
True
>>> for k in range(20):
...     x = features.update((200 + k) * 1000, {"t": 60.0}, score=1.0, learn=False)
>>> x["t.z"] > 10, x["score_mean"] > 0.5, x["symptom>0H"]  # high for under H/8
(True, True, 1.0)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from pipeline.supervised.condition import ConditionDrift

__all__ = ["AssetFeatures"]

_FAST = 0.2
_SLOW = 0.02
_SCORE = 0.05
_CLIP = 30.0
_MIN_REL_STD = 0.002
_BANDS = (0.0, 0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
"""Lower edges of the duration bands, in horizons."""
_FIRST = (
    "score",
    "score_mean",
    "deviation",
    *(f"symptom>{edge:g}H" for edge in _BANDS),
)
_KINDS = ("z", "trend")
_ALARM = 0.1
_SYMPTOM_ON = 0.5
_SYMPTOM_OFF = 0.2
_SETTLE_S = 240.0
"""After a repair, how long the restarting machine is not yet its new normal."""
_BASE_READINGS = 240
_RELEARN_READINGS = 100
"""After a repair the healthy level relearns as if it had seen only this many readings."""
"""Healthy readings after a repair that make the asset's post-repair baseline."""


class _Channel:
    __slots__ = ("fast", "slow", "mean", "var", "n")

    def __init__(self, value: float) -> None:
        self.fast = self.slow = self.mean = value
        self.var = 0.0
        self.n = 0


class _Baseline:
    """A channel's level and spread over the first healthy readings after the last repair."""

    __slots__ = ("mean", "var", "n")

    def __init__(self) -> None:
        self.mean = self.var = 0.0
        self.n = 0

    def learn(self, value: float) -> None:
        self.n += 1
        delta = value - self.mean
        self.mean += delta / self.n
        self.var += (delta * (value - self.mean) - self.var) / self.n


class AssetFeatures:
    """Rolling per-channel state of one asset and the feature vector of its latest reading."""

    drift = False
    """Also the drift features (see the module docstring); off in snapshots made without."""
    restarted_ts: int | None = None
    """Event time of the last repair (:meth:`restart`); ``None``: none seen."""
    _baselines: dict[str, _Baseline] | None = None
    condition: ConditionDrift | None = None
    """With a condition channel: the drift features beyond what it explains (``.drift``)."""
    bands = True
    """The one-hot duration bands of the detector's symptom (off: the detector's alarm rate
    instead, ``alarm_rate``: a moving average of its anomaly flags, about 10 readings)."""
    alarm_rate = 0.0
    cusums = False
    """With a condition: also each channel's CUSUMs of its drift (``<channel>.cusum+``,
    ``.cusum-``, as ``log1p``) and the asset's largest (``cusum``); off in older snapshots."""

    def __init__(
        self,
        baseline_readings: int,
        horizon_s: float,
        drift: bool = False,
        condition: ConditionDrift | None = None,
        bands: bool = True,
        cusums: bool = False,
    ) -> None:
        self.baseline_readings = baseline_readings
        self.horizon_s = horizon_s
        self.drift = drift or condition is not None
        self.condition = condition
        self.bands = bands
        self.cusums = cusums and condition is not None
        self.channels: dict[str, _Channel] = {}
        self.score_mean = 0.0
        self.symptom_since: int | None = None
        """Since when the detector's moving score has been high (``None``: it is not)."""
        self.names: tuple[str, ...] = self._first()
        """The feature names, in the order of :meth:`update`'s values (one shared tuple)."""

    def update(
        self,
        ts: int,
        values: Mapping[str, float],
        score: float,
        learn: bool,
        anomaly: bool = False,
    ) -> dict[str, float]:
        """Account for one reading at ``ts``; its features. ``learn``: it looks healthy;
        ``anomaly``: the detector calls it anomalous."""
        restarted = self.restarted_ts
        settling = restarted is not None and ts - restarted < _SETTLE_S * 1000
        rebaseline = self.drift
        learn_baseline = learn and not settling and rebaseline
        learn = learn and not (settling and rebaseline)
        self.score_mean += _SCORE * (score - self.score_mean)
        if self.score_mean >= _SYMPTOM_ON and self.symptom_since is None:
            self.symptom_since = ts
        elif self.score_mean < _SYMPTOM_OFF:
            self.symptom_since = None
        for name, value in values.items():
            channel = self.channels.get(name)
            if channel is None:
                channel = self._add(name, value)
            channel.fast += _FAST * (value - channel.fast)
            channel.slow += _SLOW * (value - channel.slow)
            if learn:
                self._learn(channel, value)
            if learn_baseline:
                self._learn_baseline(name, value)
        x = {"score": score, "score_mean": self.score_mean, "deviation": 0.0}
        if self.bands:
            symptom = None if self.symptom_since is None else (ts - self.symptom_since) / 1000.0
            x.update(_bands("symptom", symptom, self.horizon_s))
        else:
            self.alarm_rate += _ALARM * (float(anomaly) - self.alarm_rate)
            x["alarm_rate"] = self.alarm_rate
        baselines, drift_on = self.baselines, self.drift
        condition = None
        if self.condition is not None:
            condition = self.condition.update(ts, values, learn and not settling)
        if drift_on:
            x["drift"] = 0.0
        cusums = None
        if self.cusums and self.condition is not None:
            x["cusum"] = 0.0
            cusums = self.condition.cusums()
        largest = drifted = 0.0
        for name, channel in self.channels.items():
            spread = math.sqrt(channel.var) + _MIN_REL_STD * abs(channel.mean) + 1e-9
            z = _clip((channel.fast - channel.mean) / spread)
            x[f"{name}.z"] = z
            x[f"{name}.trend"] = _clip((channel.fast - channel.slow) / spread)
            if condition is not None:
                x[f"{name}.drift"] = abs(condition.get(name, 0.0))
                if cusums is not None:
                    up, down = cusums.get(name, (0.0, 0.0))
                    x[f"{name}.cusum+"] = math.log1p(up)
                    x[f"{name}.cusum-"] = math.log1p(down)
                    x["cusum"] = max(x["cusum"], up, down)
            elif drift_on:
                drift = abs(_drift(channel, baselines.get(name)))
                x[f"{name}.drift"] = drift
                drifted = max(drifted, drift)
            largest = max(largest, abs(z))
        x["deviation"] = math.log1p(largest)
        if condition is not None:
            x["drift"] = _top_two(condition.values())
            if cusums is not None:
                x["cusum"] = math.log1p(x["cusum"])
        elif drift_on:
            x["drift"] = drifted
        return x

    def _first(self) -> tuple[str, ...]:
        first = _FIRST if self.bands else (*_FIRST[:3], "alarm_rate")
        first = (*first, "drift") if self.drift else first
        return (*first, "cusum") if self.cusums else first

    def _add(self, name: str, value: float) -> _Channel:
        self.channels[name] = _Channel(value)
        self.channels = dict(sorted(self.channels.items()))
        kinds = (*_KINDS, "drift") if self.drift else _KINDS
        if self.cusums:
            kinds = (*kinds, "cusum+", "cusum-")
        self.names = self._first() + tuple(f"{c}.{kind}" for c in self.channels for kind in kinds)
        return self.channels[name]

    @property
    def baselines(self) -> dict[str, _Baseline]:
        """Per channel, the post-repair baseline (created on first use)."""
        if self._baselines is None:
            self._baselines = {}
        return self._baselines

    def restart(self, ts: int) -> None:
        """The asset was repaired at ``ts``: learn a new baseline once it has settled."""
        self.restarted_ts = ts
        self._baselines = {}
        if self.condition is not None:
            self.condition.restart(ts)
        if self.drift:  # forget the level the worn machine drifted to: relearn it fast
            self.symptom_since = None
            for channel in self.channels.values():
                channel.n = min(channel.n, _RELEARN_READINGS)

    def _learn_baseline(self, name: str, value: float) -> None:
        baseline = self.baselines.get(name)
        if baseline is None:
            baseline = self.baselines[name] = _Baseline()
        if baseline.n < _BASE_READINGS:
            baseline.learn(value)

    def _learn(self, channel: _Channel, value: float) -> None:
        channel.n += 1
        rate = max(1.0 / channel.n, 1.0 / self.baseline_readings)
        delta = value - channel.mean
        channel.mean += rate * delta
        channel.var = (1.0 - rate) * (channel.var + rate * delta * delta)


def _drift(channel: _Channel, baseline: _Baseline | None) -> float:
    """The slow average against the post-repair baseline, in its spreads (0 until learned)."""
    if baseline is None or baseline.n < _BASE_READINGS:
        return 0.0
    spread = math.sqrt(baseline.var) + _MIN_REL_STD * abs(baseline.mean) + 1e-9
    return _clip((channel.slow - baseline.mean) / spread)


def _top_two(drifts: Iterable[float]) -> float:
    """The root sum of squares of the two largest ``|drift|`` (wear moves a few channels).

    >>> _top_two([1.0, -4.0, 3.0])
    5.0
    """
    first = second = 0.0
    for value in drifts:
        value = abs(value)
        if value > first:
            first, second = value, first
        elif value > second:
            second = value
    return math.sqrt(first * first + second * second)


def _clip(value: float) -> float:
    return max(-_CLIP, min(_CLIP, value))


def _bands(what: str, seconds: float | None, horizon_s: float) -> dict[str, float]:
    """One-hot: the band (in horizons) of a duration (``None``: all 0).

    >>> [name for name, on in _bands("symptom", 40.0, 120.0).items() if on]
    ['symptom>0.25H']
    """
    bands = {f"{what}>{edge:g}H": 0.0 for edge in _BANDS}
    if seconds is not None:
        band = max(0, sum(seconds >= edge * horizon_s for edge in _BANDS) - 1)
        bands[f"{what}>{_BANDS[band]:g}H"] = 1.0
    return bands
