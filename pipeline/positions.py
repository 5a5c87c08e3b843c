"""The offsets the service's next checkpoint commits, and how far the labels were read.

Readings count once processed; labels once applied or dead-lettered (a held label is not
committed: a crash consumes it again). How far each labels partition was *read* is kept
apart: the labels-first gate (:mod:`pipeline.labelgate`) waits on it.

Examples
--------
>>> from pipeline.processor import Source
>>> from pipeline.settings import TopicSettings
>>> positions = Positions(TopicSettings())
>>> positions.advance([(b"", Source("sensor.readings", 0, 7)), (b"", Source("", 0, 8))])
>>> positions.release_label(Source("sensor.labels", 0, 3))
>>> [(part.topic, part.partition, part.offset) for part in positions.offsets()]
[('sensor.readings', 0, 9), ('sensor.labels', 0, 4)]
>>> positions.discard(); positions.offsets()
[]
"""

from __future__ import annotations

from collections.abc import Sequence

from confluent_kafka import TopicPartition

from pipeline.consumed import Consumed
from pipeline.processor import Source
from pipeline.settings import TopicSettings

__all__ = ["Positions"]


class Positions:
    """Each partition's next offset to commit (readings and labels) and labels read so far."""

    def __init__(self, topics: TopicSettings) -> None:
        self.topics = topics
        self.readings: dict[int, int] = {}
        """Readings partition -> next offset, processed and not yet committed."""
        self.labels: dict[int, int] = {}
        """Labels partition -> next offset, applied or dead-lettered and not yet committed."""
        self.labels_read: dict[int, int] = {}
        """Labels partition -> next offset consumed (held labels included)."""

    def advance(self, messages: Sequence[tuple[bytes | None, Source]], partitions: int = 0) -> None:
        """Note each partition's next offset after its last message among ``messages``
        (in offset order); with ``partitions`` (how many are assigned) the scan from the end
        stops once that many were seen."""
        self.readings.update(Consumed.of_pairs(messages).next_offsets(partitions))

    def read_label(self, source: Source) -> None:
        """A label was consumed (and held)."""
        self.labels_read[source.partition] = source.offset + 1

    def release_label(self, source: Source) -> None:
        """A label was applied or dead-lettered: its offset commits next."""
        self.labels[source.partition] = source.offset + 1

    def offsets(self) -> list[TopicPartition]:
        """What the next checkpoint commits: readings, then labels, by partition."""
        return [
            TopicPartition(topic, p, o)
            for topic, positions in (
                (self.topics.readings, self.readings),
                (self.topics.labels, self.labels),
            )
            for p, o in sorted(positions.items())
        ]

    def discard(self) -> None:
        """Forget the offsets not yet committed (taken by a checkpoint, or to be replayed)."""
        self.readings, self.labels = {}, {}

    def forget(self, partitions: list[int]) -> None:
        """No longer track how far ``partitions``' labels were read (revoked or lost)."""
        for partition in partitions:
            self.labels_read.pop(partition, None)
