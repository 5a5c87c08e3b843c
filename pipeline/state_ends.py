"""Where a state partition ends for a restore: once no transaction in it is unfinished.

``commit_transaction`` returns once the transaction coordinator has logged the commit; the
commit markers reach the partitions a moment later. Until then a partition's last stable
offset (the end a ``read_committed`` reader sees) stays before the transaction's records:
against the local broker, read just after ``commit_transaction`` returned, it was 0 with the
high watermark at 2, and 2 a second later. The consumer group's offsets committed in the
same transaction are held for the new owner until they are stable (KIP-447), so a restore
that took a partition with no committed snapshot before that transaction for empty, and
skipped it, left the new owner scoring the readings after those offsets with fresh models:
``test_scale_equality`` failed so about once in twenty runs on a loaded machine (a partition
restored with no models after the previous owner had committed its first snapshots). A
partition not empty by its last stable offset was already read until the transaction ended.

Only a partition's owner writes to it, and with eager rebalancing the previous owner
committed or aborted before the partition was assigned again, so a last stable offset
behind the high watermark means markers still on their way (milliseconds) or the
transaction of an owner that died (aborted within its ``transaction.timeout.ms``, or at
once when it restarts with the same ``transactional.id``). :func:`settled_ends` waits for
the two to meet.
"""

from __future__ import annotations

import time
import uuid

from confluent_kafka import Consumer, KafkaException, TopicPartition

from pipeline.errors import KafkaTransportError

__all__ = ["settled_ends", "state_reader"]

_PAUSE_S = 0.05


def settled_ends(
    committed: Consumer,
    client_config: dict[str, str],
    topic: str,
    partitions: list[int],
    timeout_s: float,
) -> set[int]:
    """Of ``partitions`` of ``topic``, those holding records, once none has an unfinished
    transaction (last stable offset == high watermark).

    ``committed`` is the restore's own :func:`state_reader` (it reads the last stable
    offsets); the high watermarks come from a ``read_uncommitted`` one made here. Raises
    :class:`KafkaTransportError` if the ends cannot be read, or still differ after
    ``timeout_s``.
    """
    uncommitted = state_reader(client_config, "read_uncommitted")
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            ends = {
                partition: (
                    _ends(committed, topic, partition, timeout_s),
                    _ends(uncommitted, topic, partition, timeout_s)[1],
                )
                for partition in partitions
            }
            unfinished = sorted(p for p, ((_, stable), high) in ends.items() if stable < high)
            if not unfinished:
                return {p for p, ((low, stable), _) in ends.items() if stable > low}
            if time.monotonic() > deadline:
                raise KafkaTransportError(
                    f"state partitions {unfinished} of {topic} still hold an unfinished "
                    f"transaction after {timeout_s:g}s (an owner that died mid-commit is aborted "
                    "after its transaction.timeout.ms)"
                )
            time.sleep(_PAUSE_S)
    finally:
        uncommitted.close()


def state_reader(client_config: dict[str, str], isolation: str = "read_committed") -> Consumer:
    """A consumer of its own (no group offsets) for reading the state topic."""
    return Consumer(
        {
            **client_config,
            "group.id": f"linewatch-restore-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "isolation.level": isolation,
            "fetch.max.bytes": 52_428_800,
        }
    )


def _ends(consumer: Consumer, topic: str, partition: int, timeout_s: float) -> tuple[int, int]:
    """``(low, high)`` as ``consumer``'s isolation level sees them (high: the last stable
    offset when reading committed)."""
    try:
        low, high = consumer.get_watermark_offsets(
            TopicPartition(topic, partition), timeout=timeout_s
        )
    except KafkaException as exc:
        raise KafkaTransportError.from_kafka(f"could not read the end of {topic}", exc) from exc
    return int(low), int(high)
