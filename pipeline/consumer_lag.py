"""Consumer lag per assigned partition, computed cheaply and at most once per interval.

Lag is the partition's high watermark minus the consumer's position (the next offset it will
read). Both come from the client without a broker round trip: ``position()`` is local and
``get_watermark_offsets(cached=True)`` returns the watermark that the last fetch response
carried. Partitions whose position or watermark is not known yet are left out, and partitions
no longer assigned lose their series. The service refreshes it after committed batches
(:meth:`pipeline.metrics.ServiceMetrics.observe_batch`), so while the topic is idle the gauge
keeps the value measured last.

Examples
--------
>>> from prometheus_client import CollectorRegistry
>>> from confluent_kafka import TopicPartition
>>> class FakeConsumer:
...     def assignment(self): return [TopicPartition("r", 0), TopicPartition("r", 1)]
...     def position(self, parts): return [TopicPartition(p.topic, p.partition, 10) for p in parts]
...     def get_watermark_offsets(self, part, timeout=None, cached=False): return (0, 25)
>>> registry = CollectorRegistry()
>>> lag = ConsumerLag(registry, clock=lambda: 100.0)
>>> lag.update(FakeConsumer())
True
>>> registry.get_sample_value("linewatch_consumer_lag_messages", {"topic": "r", "partition": "1"})
15.0
>>> lag.update(FakeConsumer())  # within the interval: nothing is asked of the consumer
False
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from confluent_kafka import TopicPartition
from prometheus_client import CollectorRegistry, Gauge

__all__ = ["ConsumerLag", "LagSource"]


class LagSource(Protocol):
    """The three consumer methods lag needs (``confluent_kafka.Consumer`` has them)."""

    def assignment(self) -> list[TopicPartition]: ...

    def position(self, partitions: list[TopicPartition]) -> list[TopicPartition]: ...

    def get_watermark_offsets(
        self, partition: TopicPartition, timeout: float | int | None = None, cached: bool = False
    ) -> tuple[int, int]: ...


class ConsumerLag:
    """The ``linewatch_consumer_lag_messages{topic, partition}`` gauge."""

    def __init__(
        self,
        registry: CollectorRegistry,
        min_interval_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.min_interval_s = min_interval_s
        self._clock = clock
        self._last: float | None = None
        self._labels: set[tuple[str, str]] = set()
        self.gauge = Gauge(
            "linewatch_consumer_lag_messages",
            "Messages in an assigned partition after the consumer's position.",
            ["topic", "partition"],
            registry=registry,
        )

    def update(self, consumer: LagSource) -> bool:
        """Recompute the lag unless it was done less than ``min_interval_s`` ago."""
        now = self._clock()
        if self._last is not None and now - self._last < self.min_interval_s:
            return False
        self._last = now
        lags = self._measure(consumer)
        for stale in self._labels - set(lags):
            self.gauge.remove(*stale)
        for labels, value in lags.items():
            self.gauge.labels(*labels).set(value)
        self._labels = set(lags)
        return True

    @staticmethod
    def _measure(consumer: LagSource) -> dict[tuple[str, str], int]:
        lags: dict[tuple[str, str], int] = {}
        assigned = consumer.assignment()
        if not assigned:
            return lags
        for part in consumer.position(assigned):
            if part.offset < 0:
                continue  # no position yet (OFFSET_INVALID)
            _, high = consumer.get_watermark_offsets(part, cached=True)
            if high < 0:
                continue  # no fetch response yet
            lags[(part.topic, str(part.partition))] = max(high - part.offset, 0)
        return lags
