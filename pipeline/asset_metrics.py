"""Per-asset gauges (latest score, threshold, alarm, channel values), capped in cardinality.

A plant dashboard needs a machine's signals next to its score, so these series carry an
``asset`` label. Its values are bounded: at most ``max_assets`` assets are tracked (the first
seen), each with at most ``max_channels`` channels. An asset that raises an alarm while the
cap is full takes the place of the longest-tracked asset that is not in alarm, whose series are
removed, so an alarming machine is never invisible while a quiet one holds its slot.

Examples
--------
>>> from prometheus_client import CollectorRegistry
>>> registry = CollectorRegistry()
>>> series = AssetSeries(registry, max_assets=1)
>>> series.observe("a", score=0.2, threshold=0.9, values={"temp_c": 40.0})
>>> series.observe("b", score=0.95, threshold=0.9, values={"temp_c": 80.0})
>>> registry.get_sample_value("linewatch_asset_channel_value", {"asset": "a", "channel": "temp_c"})
40.0
>>> registry.get_sample_value("linewatch_asset_score", {"asset": "b"}) is None
True
>>> series.set_alarm("b", "high")  # b alarms: it takes a's place
>>> registry.get_sample_value("linewatch_asset_alarm", {"asset": "b"})
2.0
>>> registry.get_sample_value("linewatch_asset_score", {"asset": "a"}) is None
True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Gauge

__all__ = ["ALARM_LEVEL", "AssetSeries"]

#: Value of ``linewatch_asset_alarm`` by alarm state: 0 normal, 1 low, 2 high severity.
ALARM_LEVEL: dict[str, int] = {"low": 1, "high": 2}


@dataclass(slots=True)
class _Tracked:
    """The label children of one tracked asset, cached: ``labels()`` costs a lock and a lookup."""

    score: Gauge
    threshold: Gauge
    channels: dict[str, Gauge] = field(default_factory=dict)


class AssetSeries:
    """The ``linewatch_asset_*`` gauges for at most ``max_assets`` assets."""

    def __init__(
        self, registry: CollectorRegistry, max_assets: int = 50, max_channels: int = 16
    ) -> None:
        self.max_assets = max_assets
        self.max_channels = max_channels
        self._tracked: dict[str, _Tracked] = {}
        self._alarming: set[str] = set()
        self.score = Gauge(
            "linewatch_asset_score",
            "Latest calibrated anomaly score of an asset (tracked assets only).",
            ["asset"],
            registry=registry,
        )
        self.threshold = Gauge(
            "linewatch_asset_threshold",
            "Score at or above which a reading of the asset is anomalous.",
            ["asset"],
            registry=registry,
        )
        self.alarm = Gauge(
            "linewatch_asset_alarm",
            "Alarm state of an asset: 0 normal, 1 raised (low severity), 2 raised (high).",
            ["asset"],
            registry=registry,
        )
        self.channel_value = Gauge(
            "linewatch_asset_channel_value",
            "Latest value of each channel of an asset's reading (tracked assets only).",
            ["asset", "channel"],
            registry=registry,
        )

    @property
    def tracked(self) -> list[str]:
        """Assets that have series now, oldest first."""
        return list(self._tracked)

    def observe(
        self, asset: str, score: float, threshold: float | None, values: Mapping[str, float]
    ) -> None:
        """Record a scored reading of ``asset``, if it is tracked or there is room for it."""
        if not self._admit(asset, alarming=False):
            return
        tracked = self._tracked[asset]
        tracked.score.set(score)
        if threshold is not None:
            tracked.threshold.set(threshold)
        channels = tracked.channels
        for name, value in values.items():
            child = channels.get(name)
            if child is None:
                if len(channels) >= self.max_channels:
                    continue
                child = channels[name] = self.channel_value.labels(asset=asset, channel=name)
            child.set(value)

    @property
    def full(self) -> bool:
        """Whether every series is taken: :meth:`observe` records only tracked assets then."""
        return len(self._tracked) >= self.max_assets

    def admits(self, asset: str) -> bool:
        """Whether :meth:`observe` would record ``asset`` now (it is tracked or there is room)."""
        return asset in self._tracked or len(self._tracked) < self.max_assets

    def set_alarm(self, asset: str, severity: str | None) -> None:
        """Mark ``asset`` as alarming at ``severity``, or back to normal with ``None``."""
        if severity is None:
            self._alarming.discard(asset)
            if asset in self._tracked:
                self.alarm.labels(asset=asset).set(0)
            return
        self._alarming.add(asset)
        if self._admit(asset, alarming=True):
            self.alarm.labels(asset=asset).set(ALARM_LEVEL.get(severity, 1))

    def _admit(self, asset: str, alarming: bool) -> bool:
        if asset in self._tracked:
            return True
        if len(self._tracked) >= self.max_assets:
            if not alarming:
                return False
            quiet = next((a for a in self._tracked if a not in self._alarming), None)
            if quiet is None:
                return False
            self._forget(quiet)
        self._tracked[asset] = _Tracked(
            self.score.labels(asset=asset), self.threshold.labels(asset=asset)
        )
        self.alarm.labels(asset=asset).set(0)
        return True

    def _forget(self, asset: str) -> None:
        for name in self._tracked.pop(asset).channels:
            self.channel_value.remove(asset, name)
        for gauge in (self.score, self.threshold, self.alarm):
            gauge.remove(asset)
