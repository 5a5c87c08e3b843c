"""Per-asset gauges (latest score, threshold, alarm, channel values), capped in cardinality.

A plant dashboard needs a machine's signals next to its score, so these series carry an
``asset`` label. Its values are bounded: at most ``max_assets`` assets are tracked (the first
seen), each with at most ``max_channels`` channels. An asset that raises an alarm while the
cap is full takes the place of the longest-tracked asset that is not in alarm, whose series are
removed, so an alarming machine is never invisible while a quiet one holds its slot.
When its partition is revoked, an asset's series go with it (:meth:`AssetSeries.forget`):
the instance that owns it now exports them.

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

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = ["ALARM_LEVEL", "AssetSeries"]

#: Value of ``linewatch_asset_alarm`` by alarm state: 0 normal, 1 low, 2 high severity.
ALARM_LEVEL: dict[str, int] = {"low": 1, "high": 2}

_SCORE = "Latest calibrated anomaly score of an asset (tracked assets only)."
_THRESHOLD = "Score at or above which a reading of the asset is anomalous."
_CHANNEL = "Latest value of each channel of an asset's reading (tracked assets only)."


@dataclass(slots=True)
class _Tracked:
    """The latest values of one tracked asset, exported when scraped (:class:`_Latest`)."""

    score: float = 0.0
    threshold: float = 0.0
    channels: dict[str, float] = field(default_factory=dict)


class _Latest(Collector):
    """Collects the tracked assets' score, threshold and channel series.

    The service only writes plain attributes for each batch; the series are made when
    Prometheus scrapes (a labelled ``Gauge.set`` takes a lock and two calls, and a reading of
    a tracked asset made ten of them).
    """

    def __init__(self, tracked: dict[str, _Tracked]) -> None:
        self._tracked = tracked

    def describe(self) -> list[GaugeMetricFamily]:
        return self._families()

    def collect(self) -> list[GaugeMetricFamily]:
        score, threshold, channel = families = self._families()
        # Scraped in another thread: each dict is copied in one step (dict.copy, in C) before
        # it is iterated, so the service adding or removing an asset or a channel meanwhile
        # cannot break the iteration (building a list of its items allocates a tuple per item,
        # and a garbage collection run there can switch threads mid-way).
        for asset, tracked in self._tracked.copy().items():
            score.add_metric([asset], tracked.score)
            threshold.add_metric([asset], tracked.threshold)
            for name, value in tracked.channels.copy().items():
                channel.add_metric([asset, name], value)
        return families

    @staticmethod
    def _families() -> list[GaugeMetricFamily]:
        return [
            GaugeMetricFamily("linewatch_asset_score", _SCORE, labels=["asset"]),
            GaugeMetricFamily("linewatch_asset_threshold", _THRESHOLD, labels=["asset"]),
            GaugeMetricFamily(
                "linewatch_asset_channel_value", _CHANNEL, labels=["asset", "channel"]
            ),
        ]


class AssetSeries:
    """The ``linewatch_asset_*`` series for at most ``max_assets`` assets."""

    def __init__(
        self, registry: CollectorRegistry, max_assets: int = 50, max_channels: int = 16
    ) -> None:
        self.max_assets = max_assets
        self.max_channels = max_channels
        self._tracked: dict[str, _Tracked] = {}
        self._alarming: set[str] = set()
        registry.register(_Latest(self._tracked))
        self.alarm = Gauge(
            "linewatch_asset_alarm",
            "Alarm state of an asset: 0 normal, 1 raised (low severity), 2 raised (high).",
            ["asset"],
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
        tracked = self._tracked.get(asset)
        if tracked is None:
            if not self._admit(asset, alarming=False):
                return
            tracked = self._tracked[asset]
        tracked.score = score
        if threshold is not None:
            tracked.threshold = threshold
        channels = tracked.channels
        if len(channels) + len(values) <= self.max_channels:
            channels.update(values)
            return
        for name, value in values.items():
            if name in channels or len(channels) < self.max_channels:
                channels[name] = value

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

    def alarming(self, asset: str) -> bool:
        """Whether ``asset``'s alarm is raised (set by :meth:`set_alarm`, tracked or not)."""
        return asset in self._alarming

    def forget(self, assets: Iterable[str]) -> int:
        """Remove the series of ``assets`` (no longer this instance's: their partition was
        revoked) and their alarms; returns how many of them were alarming."""
        alarming = 0
        for asset in assets:
            if asset in self._alarming:
                self._alarming.discard(asset)
                alarming += 1
            if asset in self._tracked:
                self._forget(asset)
        return alarming

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
        self._tracked[asset] = _Tracked()
        self.alarm.labels(asset=asset).set(0)
        return True

    def _forget(self, asset: str) -> None:
        del self._tracked[asset]
        self.alarm.remove(asset)
