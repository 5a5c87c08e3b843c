"""Measurement (f): resident memory per 1,000 assets, snapshot size, and restore time.

- **RSS per 1,000 assets**: the slope of resident memory over assets between two runs of the
  same service draining the same readings: the linewatch arm's (``A`` assets) and a second
  run over ``3 A`` assets, each measured right after its drain (before it stops).
  Interpreter, libraries and client buffers (librdkafka prefetches up to 64 MB of a long
  topic) cancel out; what is left is what each asset costs: its state, and its share of
  what every commit makes (a snapshot of every asset touched since the last one). The
  allocator's state still differs from run to run by ±10-15 MB; spread over ``2 A`` assets
  instead of the ``0.99 A`` of the former baseline (``A / 100`` assets), that noise is
  halved per asset. The second run's assets get a third of the readings each: the default
  detector's calibration window (2 bytes a reading, up to 10,000) makes their state
  ~1.3 KB smaller at the defaults, so the slope understates the steady per-asset memory by
  up to ~2 MB per 1,000 assets. Both services run with ``MALLOC_ARENA_MAX=2``
  (:mod:`bench.speed.runner`). The heap figure below is steady.
- **Snapshot bytes per asset**: the mean size of the latest ``linewatch.state`` value of
  each asset after the drain (signed pickles, compressed from 16 KiB, as restored).
- **Restore time**: ``PartitionStates.restore`` (what the service runs on assignment: read
  the state partitions, check every signature, unpickle) of all partitions, timed in this
  process, per 1,000 assets restored. A second restore under ``tracemalloc`` gives the Python
  heap the restored states take: the per-asset memory without the process-to-process noise
  of RSS (allocator and librdkafka buffers vary by tens of MB between runs).
"""

from __future__ import annotations

import dataclasses
import time
import tracemalloc
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition
from prometheus_client import CollectorRegistry

from bench.speed import topics
from bench.speed.arms import BenchInput
from bench.speed.runner import ArmResult
from bench.speed.service import ServiceRun, run_service_arm
from pipeline.metrics import ServiceMetrics
from pipeline.partitions import PartitionStates
from pipeline.settings import Settings, TopicSettings

if TYPE_CHECKING:
    from bench.speed.run import Options

__all__ = ["OTHER_ARM", "MemoryResult", "measure_memory", "per_1000_assets"]

_MORE_ASSETS = 3
"""The second run spreads the readings over this many times the assets."""
OTHER_ARM = "memory-3x-assets"
"""Its name in the results table."""


@dataclass(frozen=True)
class MemoryResult:
    """Memory and state of the linewatch arm, against a run over more assets (``other``)."""

    assets: int
    rss_bytes: int
    other_assets: int
    other_rss_bytes: int
    readings_per_asset: int
    snapshot_bytes_per_asset: float | None
    snapshot_assets: int
    restore_s: float | None
    restored_assets: int
    other: ArmResult
    heap_bytes: int | None = None
    """Python heap the restored asset states take (``tracemalloc``, a second restore)."""

    @property
    def rss_mb_per_1000_assets(self) -> float:
        """MB (10^6 bytes) of resident memory per 1,000 assets."""
        return per_1000_assets(self.rss_bytes, self.assets, self.other_rss_bytes, self.other_assets)

    @property
    def restore_s_per_1000_assets(self) -> float | None:
        if self.restore_s is None or self.restored_assets == 0:
            return None
        return self.restore_s / self.restored_assets * 1000

    @property
    def heap_mb_per_1000_assets(self) -> float | None:
        if self.heap_bytes is None or self.restored_assets == 0:
            return None
        return self.heap_bytes / self.restored_assets * 1000 / 1e6

    def describe(self) -> list[str]:
        snapshot = (
            f"{self.snapshot_bytes_per_asset:,.0f} bytes per asset (latest of "
            f"{self.snapshot_assets:,} assets)"
            if self.snapshot_bytes_per_asset is not None
            else "not measured (run without snapshots)"
        )
        restore = (
            f"{self.restore_s:.2f} s for {self.restored_assets:,} assets, which take "
            f"{self.heap_mb_per_1000_assets or 0:.1f} MB of Python heap per 1,000 assets"
            if self.restore_s is not None
            else "not measured"
        )
        return [
            f"Memory (f): linewatch RSS {self.rss_bytes / 1e6:.0f} MB with {self.assets:,} assets"
            f" after {self.readings_per_asset:,} readings each; "
            f"{self.other_rss_bytes / 1e6:.0f} MB with {self.other_assets:,} assets after as many"
            f" readings in all -> **{self.rss_mb_per_1000_assets:.1f} MB per 1,000 assets** "
            f"(the slope). Snapshots: {snapshot}."
            f" Restore (read, verify, unpickle all partitions): {restore}.",
        ]


def per_1000_assets(rss: int, assets: int, other_rss: int, other_assets: int) -> float:
    """MB per 1,000 assets from two runs that differ only in their asset count (the slope).

    >>> per_1000_assets(300_000_000, 1000, 400_000_000, 3000)
    50.0
    >>> per_1000_assets(300_000_000, 1000, 200_000_000, 10)
    101.0101...
    """
    if assets == other_assets:
        raise ValueError("the two runs need different asset counts")
    return (other_rss - rss) / (other_assets - assets) * 1000 / 1e6


def measure_memory(
    data: BenchInput, options: Options, linewatch: ArmResult, names: TopicSettings, config: Path
) -> MemoryResult:
    """The run over more assets, snapshot sizes and restore time for the linewatch arm's run."""
    per_asset = max(1, data.readings // data.assets)
    other = _run_over(data, options, _MORE_ASSETS * data.assets)
    settings = Settings.load(config)
    sizes = snapshot_sizes(data.bootstrap, names.state, data.partitions)
    restore_s, restored = _restore(settings, data.partitions) if options.snapshots else (None, 0)
    heap = _restored_heap(settings, data.partitions) if options.snapshots else None
    return MemoryResult(
        assets=data.assets,
        rss_bytes=linewatch.rss_bytes,
        other_assets=_MORE_ASSETS * data.assets,
        other_rss_bytes=other.rss_bytes,
        readings_per_asset=per_asset,
        snapshot_bytes_per_asset=sum(sizes) / len(sizes) if sizes else None,
        snapshot_assets=len(sizes),
        restore_s=restore_s,
        restored_assets=restored,
        other=other,
        heap_bytes=heap,
    )


def _run_over(data: BenchInput, options: Options, assets: int) -> ArmResult:
    """The same service draining as many readings over ``assets`` assets."""
    name = topics.unique("bench.readings.memory")
    topics.create(data.bootstrap, [name], data.partitions)
    try:
        sent = topics.preload(data.bootstrap, name, data.readings, assets)
        small = dataclasses.replace(
            data,
            topic=name,
            readings=sent,
            assets=assets,
            ends=topics.end_offsets(data.bootstrap, name, data.partitions),
        )
        run = ServiceRun(OTHER_ARM, options.kind, options.processing, options.snapshots)
        result, names, _ = run_service_arm(small, run)
        topics.delete(data.bootstrap, [names.state])
        return result
    finally:
        topics.delete(data.bootstrap, [name])


def snapshot_sizes(bootstrap: str, topic: str, partitions: int) -> list[int]:
    """Size of the latest committed value of every key of ``topic`` (tombstones skipped)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-state-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "isolation.level": "read_committed",
        }
    )
    latest: dict[bytes, int] = {}
    pending = set(range(partitions))
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in pending])
    deadline = time.monotonic() + 300
    try:
        while pending and time.monotonic() < deadline:
            for message in consumer.consume(1000, 0.5):
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        pending.discard(message.partition() or 0)
                    continue
                value = message.value()
                if value is None:
                    latest.pop(message.key() or b"", None)
                else:
                    latest[message.key() or b""] = len(value)
    finally:
        consumer.close()
    return list(latest.values())


def _restore(settings: Settings, partitions: int) -> tuple[float, int]:
    assets: dict[str, object] = {}
    states = PartitionStates(settings, assets, ServiceMetrics(CollectorRegistry()))
    began = time.perf_counter()
    states.restore(list(range(partitions)))
    return time.perf_counter() - began, len(assets)


def _restored_heap(settings: Settings, partitions: int) -> int:
    """Bytes of Python heap the restored states hold (the reader's buffers are freed first)."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        assets: dict[str, object] = {}
        PartitionStates(settings, assets, ServiceMetrics(CollectorRegistry())).restore(
            list(range(partitions))
        )
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
