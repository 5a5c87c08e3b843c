"""Prometheus metrics of the service, built against an injected ``CollectorRegistry``.

Examples
--------
>>> from prometheus_client import CollectorRegistry
>>> registry = CollectorRegistry()
>>> metrics = ServiceMetrics(registry, max_assets=1)
>>> metrics.observe_asset_score("a", 0.5); metrics.observe_asset_score("b", 0.9)
>>> registry.get_sample_value("linewatch_asset_score", {"asset": "a"})
0.5
>>> registry.get_sample_value("linewatch_asset_score", {"asset": "b"}) is None
True
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["ServiceMetrics"]


class ServiceMetrics:
    """Counters, gauges and histograms of ``serve``; per-asset series capped at ``max_assets``."""

    def __init__(self, registry: CollectorRegistry, max_assets: int = 50) -> None:
        self.max_assets = max_assets
        self._asset_labels: set[str] = set()
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
        self.models = Gauge("linewatch_models", "Per-asset models held.", registry=registry)
        self.asset_score = Gauge(
            "linewatch_asset_score",
            "Latest anomaly score of an asset (for at most max_assets assets).",
            ["asset"],
            registry=registry,
        )
        self.snapshot_bytes = Histogram(
            "linewatch_snapshot_bytes",
            "Size of one signed per-asset model snapshot.",
            buckets=(1e3, 1e4, 5e4, 1e5, 2e5, 5e5, 1e6),
            registry=registry,
        )
        self.snapshot_seconds = Histogram(
            "linewatch_snapshot_seconds",
            "Time to encode and sign the snapshots of one commit.",
            registry=registry,
        )
        self.snapshots_refused = Counter(
            "linewatch_snapshots_refused",
            "State snapshots refused because their signature did not check.",
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
            "Commits of outputs, snapshots and offsets, by outcome (committed, aborted).",
            ["outcome"],
            registry=registry,
        )
        for outcome in ("valid", "invalid"):
            self.readings.labels(outcome=outcome)

    def observe_asset_score(self, asset: str, score: float) -> None:
        """Set an asset's latest score, unless that would exceed the cap on asset series."""
        if asset not in self._asset_labels:
            if len(self._asset_labels) >= self.max_assets:
                return
            self._asset_labels.add(asset)
        self.asset_score.labels(asset=asset).set(score)
