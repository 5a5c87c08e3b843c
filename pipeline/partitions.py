"""Which asset models belong to which partition, and moving them in and out with snapshots.

:class:`PartitionStates` keeps the service's view of its assignment: the partitions it owns,
the partition of every asset model it holds (in the processor's ``assets`` dict), the assets
changed since the last commit, and how to snapshot them or restore them from the state topic.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from pipeline.errors import KafkaTransportError, SnapshotRefused
from pipeline.metrics import ServiceMetrics
from pipeline.settings import Settings
from pipeline.state import SnapshotCodec, read_snapshots
from pipeline.supervised.snapshots import SupervisedSnapshots

__all__ = ["PartitionStates"]
logger = logging.getLogger(__name__)

_RETRY_PAUSE_S = 1.0


class PartitionStates:
    """The assignment's asset models: bookkeeping, snapshots and restores.

    Parameters
    ----------
    settings
        Topics, state settings (HMAC key) and client properties.
    assets
        The processor's ``assets`` dict, updated in place on restore and drop.
    metrics
        Snapshot and restore metrics.
    check
        Raises when the broker refused the credentials (called between retries).
    supervised
        The supervised models' state, snapshotted with the asset models (default: off).
    """

    def __init__(
        self,
        settings: Settings,
        assets: dict[str, Any],
        metrics: ServiceMetrics,
        check: Callable[[], None] = lambda: None,
        supervised: SupervisedSnapshots | None = None,
    ) -> None:
        self.settings = settings
        self.assets = assets
        self.metrics = metrics
        self.supervised = supervised or SupervisedSnapshots(None)
        self.assigned: set[int] = set()
        self._check = check
        self._partition_of: dict[str, int] = {}
        self._touched: dict[str, int] = {}
        key = settings.state.hmac_key
        self.codec = (
            SnapshotCodec(key.get_secret_value().encode(), settings.state.max_snapshot_bytes)
            if key is not None
            else None
        )

    def touch(self, asset: str, partition: int) -> None:
        """Note that ``asset`` (of ``partition``) changed since the last commit."""
        self._touched[asset] = partition
        self._partition_of[asset] = partition

    def clear_touched(self) -> None:
        """Forget what changed (after a commit, or when the changes were discarded)."""
        self._touched = {}
        self.supervised.clear_changed()

    def snapshots(self) -> list[tuple[str, int, bytes]]:
        """``(asset, partition, signed snapshot)`` of every asset changed since the commit."""
        return self.seal(self.pickled())

    def pickled(self) -> list[tuple[str, int, bytes]]:
        """``(asset, partition, pickled state)`` of every asset changed since the commit.

        The part of a snapshot that reads the models: once it returned, the models may change
        and :meth:`seal` (compress, sign) can run in another thread.
        """
        if self.codec is None:
            return []
        started = time.perf_counter()
        dumps, result = self.codec.dumps, []
        for asset, partition in sorted(self._touched.items()):
            state = self.assets.get(asset)
            if state is not None:
                result.append((asset, partition, dumps(self.supervised.bundle(asset, state))))
        for key, models in self.supervised.shared():  # a machine type's: to every partition
            pickled = dumps(models)
            result += [(key, partition, pickled) for partition in sorted(self.assigned)]
        self.metrics.snapshot_seconds.observe(time.perf_counter() - started)
        return result

    def seal(self, pickled: list[tuple[str, int, bytes]]) -> list[tuple[str, int, bytes]]:
        """The signed snapshots of :meth:`pickled`'s states."""
        if self.codec is None:
            return []
        seal, observe = self.codec.seal, self.metrics.snapshot_bytes.observe
        result = []
        for asset, partition, state in pickled:
            value = seal(asset, state)
            observe(len(value))
            result.append((asset, partition, value))
        return result

    def drop(self, partitions: list[int]) -> None:
        """Forget the partitions and their asset models."""
        for asset in [a for a, p in self._partition_of.items() if p in partitions]:
            self.assets.pop(asset, None)
            del self._partition_of[asset]
            self.supervised.drop(asset)
        self.assigned.difference_update(partitions)
        if not self.assigned:
            self.supervised.clear_shared()

    def restore(self, partitions: list[int]) -> None:
        """Own ``partitions`` and load their latest verified snapshots (retrying on errors)."""
        self.assigned.update(partitions)
        if self.codec is None or not partitions:
            return
        started = time.perf_counter()
        restored = self._read(partitions, self.codec)
        for partition, states in restored.items():
            for asset, state in states.items():
                state = self.supervised.unbundle(asset, state)
                if state is None:
                    continue  # a machine type's models, not an asset's
                self.assets[asset] = state
                self._partition_of[asset] = partition
                self.metrics.restores.inc()
        self.metrics.restore_seconds.observe(time.perf_counter() - started)
        count = sum(len(states) for states in restored.values())
        logger.info("restored %d asset models for partitions %s", count, partitions)

    def _read(self, partitions: list[int], codec: SnapshotCodec) -> dict[int, dict[str, Any]]:
        while True:
            try:
                return read_snapshots(
                    self.settings.client_config(),
                    self.settings.topics.state,
                    partitions,
                    codec,
                    self.settings.state.restore_timeout_s,
                    self._on_refused,
                )
            except KafkaTransportError as exc:
                self._check()
                logger.warning("could not read the state snapshots (%s); retrying", exc)
                time.sleep(_RETRY_PAUSE_S)

    def _on_refused(self, asset: str, partition: int, offset: int, exc: SnapshotRefused) -> None:
        self.metrics.snapshots_refused.inc()
        logger.error(
            "refused state snapshot of asset %r (%s partition %d offset %d): %s; "
            "the asset starts with a fresh model",
            asset,
            self.settings.topics.state,
            partition,
            offset,
            exc,
        )
