"""Readings wait for the labels already written: after an assignment or a rewind, labels first.

The service holds every label until its partition's readings reach it
(:mod:`pipeline.supervised.held`), which fixes where a label takes effect, provided the label
was consumed by then. Right after partitions are assigned (a start, a restart after a crash,
a rebalance) or rewound, the readings partition could be fetched ahead of its labels
partition, and the labels already on the topic would take effect late, at a point that
depends on fetch timing. So the readings partition is paused until the labels partition is
consumed up to the end it had when the gate closed (its high watermark), or until
``timeout_s`` passed (then a warning: those labels take effect when they come).

"Consumed up to" is the consumer's position, not the last label's offset + 1: when labels
were written in a transaction, the high watermark lies past the commit marker, which no
message carries; a read_committed consumer's position steps over it.
"""

from __future__ import annotations

import logging
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from pipeline.errors import kafka_error

__all__ = ["LabelGate"]
logger = logging.getLogger(__name__)

_RETRY_S = 0.2
_COORDINATOR_MOVING = frozenset(
    {
        KafkaError.NOT_COORDINATOR,
        KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
        KafkaError.COORDINATOR_NOT_AVAILABLE,
    }
)


class LabelGate:
    """Paused readings partitions, each waiting for its labels partition to reach an offset."""

    def __init__(self, readings: str, labels: str, timeout_s: float) -> None:
        self.readings, self.labels, self.timeout_s = readings, labels, timeout_s
        self.waiting: dict[int, tuple[int, float]] = {}
        """Readings partition -> (labels offset to reach, monotonic deadline)."""

    def close(self, consumer: Consumer, partitions: list[int]) -> None:
        """Pause the readings of ``partitions`` whose labels partition has unread labels."""
        if not partitions:
            return
        labels = [TopicPartition(self.labels, p) for p in partitions]
        deadline = time.monotonic() + self.timeout_s
        offsets = self._offsets(consumer, labels, deadline)
        if offsets is None:
            return
        for part, end in offsets:
            if end > max(part.offset, 0):
                self.waiting[part.partition] = (end, deadline)
        if self.waiting:
            consumer.pause([TopicPartition(self.readings, p) for p in sorted(self.waiting)])

    def _offsets(
        self, consumer: Consumer, labels: list[TopicPartition], deadline: float
    ) -> list[tuple[TopicPartition, int]] | None:
        """Each labels partition's committed offset and high watermark; retriable errors (the
        group coordinator still loading) are retried until ``deadline``; ``None``: unknown."""
        while True:
            timeout = max(deadline - time.monotonic(), 0.1)
            try:
                committed = consumer.committed(labels, timeout=timeout)
                ends = [
                    consumer.get_watermark_offsets(part, timeout=timeout, cached=False)[1]
                    for part in labels
                ]
                return list(zip(committed, ends, strict=True))
            except KafkaException as exc:
                error = kafka_error(exc)
                retriable = error is not None and (
                    error.retriable() or error.code() in _COORDINATOR_MOVING
                )
                if not retriable or time.monotonic() >= deadline:
                    logger.warning("labels first: could not read the labels' offsets (%s)", exc)
                    return None
            time.sleep(_RETRY_S)

    def open(self, consumer: Consumer, positions: dict[int, int]) -> None:
        """Resume the readings whose labels reached their end (``positions``: consumed up to)."""
        if not self.waiting:
            return
        reached = self._reached(consumer, positions)
        now = time.monotonic()
        ready = []
        for partition, (end, deadline) in self.waiting.items():
            if reached.get(partition, -1) >= end:
                ready.append(partition)
            elif now >= deadline:
                logger.warning(
                    "labels first: labels partition %d not read up to %d in %.0f s; resuming",
                    partition,
                    end,
                    self.timeout_s,
                )
                ready.append(partition)
        for partition in ready:
            del self.waiting[partition]
        if ready:
            consumer.resume([TopicPartition(self.readings, p) for p in ready])

    def _reached(self, consumer: Consumer, positions: dict[int, int]) -> dict[int, int]:
        """The waiting labels partitions' offsets consumed up to: the consumer's position, or
        ``positions`` when that is further (the position is unknown before a first fetch)."""
        reached = {p: positions.get(p, -1) for p in self.waiting}
        try:
            current = consumer.position([TopicPartition(self.labels, p) for p in self.waiting])
        except KafkaException as exc:
            logger.debug("labels first: no position for the labels (%s)", exc)
            return reached
        for part in current:
            reached[part.partition] = max(reached[part.partition], part.offset)
        return reached

    def forget(self, partitions: list[int]) -> None:
        """No longer wait for ``partitions`` (revoked or lost)."""
        for partition in partitions:
            self.waiting.pop(partition, None)
