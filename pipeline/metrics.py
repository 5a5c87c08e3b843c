"""Prometheus metrics of the service, built against an injected ``CollectorRegistry``.

The service calls three methods: :meth:`ServiceMetrics.observe_outcomes` for every processed
batch, :meth:`~ServiceMetrics.observe_batch` after every committed batch and
:meth:`~ServiceMetrics.observe_drift` when a drift detector fires; the partition keeper
observes ``snapshot_seconds`` once per snapshot it takes (pickled, or its share of a
checkpoint's compact encoding) and ``snapshot_bytes`` as it seals one.
Label values are bounded: outcomes, states, severities and dead-letter reasons are closed sets,
partitions are the assigned ones, and per-asset series are capped
(:class:`pipeline.asset_metrics.AssetSeries`).

Examples
--------
>>> from prometheus_client import CollectorRegistry
>>> from pipeline.processor import Processor
>>> from pipeline.settings import Settings
>>> registry = CollectorRegistry()
>>> metrics = ServiceMetrics(registry, max_assets=1)
>>> processor = Processor(Settings.load(None))
>>> metrics.observe_outcome(processor.process(b'{"asset": "a", "ts": 1, "values": {"t": 2}}'))
>>> metrics.observe_outcome(processor.process(b'{"asset": "b", "ts": 1, "values": {"t": 3}}'))
>>> metrics.observe_outcome(processor.process(b'not json'))
>>> registry.get_sample_value("linewatch_readings_total", {"outcome": "valid"})
2.0
>>> registry.get_sample_value("linewatch_deadletters_total", {"reason": "malformed_json"})
1.0
>>> registry.get_sample_value("linewatch_asset_channel_value", {"asset": "a", "channel": "t"})
2.0
>>> registry.get_sample_value("linewatch_asset_score", {"asset": "b"}) is None
True
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from pipeline.asset_metrics import AssetSeries
from pipeline.consumer_lag import ConsumerLag, LagSource
from pipeline.messages import Alert
from pipeline.outcomes import Outcomes
from pipeline.processor import Outcome
from pipeline.supervised.metrics import SupervisedMetrics

__all__ = ["ServiceMetrics", "observe_many"]

#: Event-time lag buckets (seconds): from a live stream (sub-second) to a replayed backlog.
LAG_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 86400)
#: Snapshot size buckets (bytes): 1 KiB to 256 MiB by factors of 4.
SIZE_BUCKETS = tuple(float(1024 * 4**k) for k in range(10))


def observe_many(histogram: Histogram, values: npt.NDArray[np.float64]) -> None:
    """``histogram.observe(v)`` for every value, in one step per bucket.

    >>> from prometheus_client import CollectorRegistry
    >>> registry = CollectorRegistry()
    >>> h = Histogram("lag", "", buckets=(1, 10), registry=registry)
    >>> observe_many(h, np.array([0.5, 1.0, 5.0, 50.0]))
    >>> [registry.get_sample_value("lag_bucket", {"le": le}) for le in ("1.0", "10.0", "+Inf")]
    [2.0, 3.0, 4.0]
    """
    bounds = getattr(histogram, "_upper_bounds", None)
    buckets = getattr(histogram, "_buckets", None)
    total = getattr(histogram, "_sum", None)
    if bounds is None or buckets is None or total is None:  # not the client we know: one by one
        for value in values.tolist():
            histogram.observe(value)
        return
    counts = np.bincount(np.searchsorted(bounds, values, side="left"), minlength=len(bounds))
    for index in np.flatnonzero(counts).tolist():
        buckets[index].inc(int(counts[index]))
    total.inc(float(values.sum()))


class ServiceMetrics:
    """Counters, gauges and histograms of ``serve``; per-asset series capped at ``max_assets``."""

    def __init__(
        self, registry: CollectorRegistry, max_assets: int = 50, max_channels: int = 16
    ) -> None:
        self.max_assets = max_assets
        self.assets = AssetSeries(registry, max_assets, max_channels)
        self.consumer_lag = ConsumerLag(registry)
        self.readings = Counter(
            "linewatch_readings",
            "Messages consumed from the readings topic, by outcome.",
            ["outcome"],
            registry=registry,
        )
        self.scores = Counter("linewatch_scores", "Score messages produced.", registry=registry)
        self.alerts = Counter(
            "linewatch_alerts",
            "Alert state changes produced, by state and severity.",
            ["state", "severity"],
            registry=registry,
        )
        self.alerts_active = Gauge(
            "linewatch_alerts_active", "Assets whose alarm is raised now.", registry=registry
        )
        self.deadletters = Counter(
            "linewatch_deadletters",
            "Messages sent to the dead-letter topic, by reason.",
            ["reason"],
            registry=registry,
        )
        self.process_seconds = Histogram(
            "linewatch_process_seconds",
            "Time to process one consumed batch, from decode to committed offsets.",
            registry=registry,
        )
        self.event_lag_seconds = Histogram(
            "linewatch_event_lag_seconds",
            "Wall-clock time a reading was processed minus its timestamp.",
            buckets=LAG_BUCKETS,
            registry=registry,
        )
        self.models = Gauge("linewatch_models", "Per-asset models held.", registry=registry)
        self.snapshot_bytes = Histogram(
            "linewatch_snapshot_bytes",
            "Size of one written state snapshot.",
            buckets=SIZE_BUCKETS,
            registry=registry,
        )
        self.snapshot_seconds = Histogram(
            "linewatch_snapshot_seconds",
            "Time to take one asset's state for its snapshot, observed once per snapshot: "
            "pickling it, or for a compact snapshot its share of encoding the checkpoint's "
            "compact states at once (their total time over their number, observed once per "
            "asset). Signing it, and compressing a large one, follow in the commit, which may "
            "run in a helper thread.",
            registry=registry,
        )
        self.drift_events = Counter(
            "linewatch_drift_events",
            "Concept drift detections (any detector, any asset).",
            registry=registry,
        )
        self.snapshots_refused = Counter(
            "linewatch_snapshots_refused",
            "State snapshots refused: their signature did not check, or this version cannot read "
            "them (the asset starts afresh).",
            registry=registry,
        )
        self.restores = Counter(
            "linewatch_restores",
            "Per-asset model states restored from snapshots on partition assignment.",
            registry=registry,
        )
        self.restore_seconds = Histogram(
            "linewatch_restore_seconds",
            "Time to read and verify the snapshots of newly assigned partitions.",
            registry=registry,
        )
        self.commits = Counter(
            "linewatch_commits",
            "Commits of outputs, snapshots and offsets, by outcome (committed; aborted: failed,"
            " or given up because an output could not be queued).",
            ["outcome"],
            registry=registry,
        )
        self.supervised = SupervisedMetrics(registry)
        self._init_label_sets()

    def _init_label_sets(self) -> None:
        self._valid = self.readings.labels(outcome="valid")  # cached: the per-reading path
        self.readings.labels(outcome="invalid")
        for state in ("raised", "cleared"):
            for severity in ("low", "high"):
                self.alerts.labels(state=state, severity=severity)

    def observe_outcome(self, outcome: Outcome, now_s: float | None = None) -> None:
        """Count one processed message: a batch of one (:meth:`observe_outcomes`)."""
        self.observe_outcomes([outcome], now_s)

    def observe_outcomes(self, outcomes: Sequence[Outcome], now_s: float | None = None) -> None:
        """Count a processed batch; ``now_s`` (epoch seconds) defaults to the clock.

        Counters move by the batch's counts, the event lags go into the histogram in one step,
        and each tracked asset's gauges take its last reading of the batch. An
        :class:`~pipeline.outcomes.Outcomes` is read from its columns (no Outcome objects).
        """
        now = time.time() if now_s is None else now_s
        batch = outcomes if isinstance(outcomes, Outcomes) else Outcomes.of(outcomes)
        for letter in batch.dead_letters():
            self.readings.labels(outcome="invalid").inc()
            self.deadletters.labels(reason=letter.reason).inc()
        for _, alert, fault in batch.alerts():
            if fault:
                self.supervised.observe_fault_alert(alert)
            else:
                self.observe_alert(alert)
        series = self.assets
        tracked = series.tracked if series.full else None  # only their series change then
        lags, last = batch.latest(None if tracked is None else set(tracked))
        if not lags:
            return
        self._valid.inc(len(lags))
        self.scores.inc(len(lags))
        observe_many(self.event_lag_seconds, np.maximum(now - np.array(lags) / 1000.0, 0.0))
        if tracked is not None:
            for asset in tracked:
                if (entry := last.get(asset)) is not None:
                    series.observe(asset, *entry)
            return
        admits, observe = series.admits, series.observe
        for asset, (score, threshold, values) in last.items():
            if admits(asset):
                observe(asset, score, threshold, values)

    def observe_alert(self, alert: Alert) -> None:
        """Count an alert state change and update the alarm gauges."""
        self.alerts.labels(state=alert.state, severity=alert.severity).inc()
        if alert.state == "raised":
            self.alerts_active.inc()
            self.assets.set_alarm(alert.asset, alert.severity)
        else:
            self.alerts_active.dec()
            self.assets.set_alarm(alert.asset, None)

    def resume_alarm(self, alert: Alert) -> None:
        """Count the alarm of an asset restored with it raised (it clears here, later)."""
        if self.assets.alarming(alert.asset):
            return
        self.alerts_active.inc()
        self.assets.set_alarm(alert.asset, alert.severity)

    def forget_assets(self, assets: Iterable[str]) -> None:
        """Drop the series and active alarms of ``assets``: their partition moved away."""
        self.alerts_active.dec(self.assets.forget(assets))

    def observe_batch(self, seconds: float, models: int, consumer: LagSource | None = None) -> None:
        """Record a committed batch: its duration, the models held and (throttled) the lag."""
        self.process_seconds.observe(seconds)
        self.models.set(models)
        if consumer is not None:
            self.consumer_lag.update(consumer)

    def observe_drift(self, asset: str) -> None:
        """Count a drift detection on ``asset`` (the asset is not a label: unbounded)."""
        self.drift_events.inc()
