"""Which partition librdkafka's default partitioner gives an asset's readings, and a fleet's
reading phases grouped by partition.

librdkafka puts each partition's records in their own produce request (one partition per
ProduceRequest, confluentinc/librdkafka#1700), so a fleet that sends its assets in index order
(whose partitions are mixed) sends one request per partition for every ``linger.ms``. Sending
the assets of one partition one after another lets one request carry what took four: at
43,000 readings/s over 4 partitions, 272-301 produce requests a second instead of 570-601, and
the broker's CPU 4.9-6.3 µs a reading instead of 6.9-7.6 (round 18 of
``bench/NOTES-latency-memory.md``). The bench's load generator and ``linewatch simulate``
(unless ``--order asset``) send in that order.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

__all__ = ["CRC32_PARTITIONERS", "DEFAULT_PARTITIONER", "partition_of", "phases_by_partition"]

DEFAULT_PARTITIONER = "consistent_random"
"""librdkafka's ``partitioner`` when none is configured."""
CRC32_PARTITIONERS = frozenset({"consistent", "consistent_random"})
"""The ``partitioner`` values that place a non-empty key by :func:`partition_of` (the others
hash with murmur2 or FNV-1a, or ignore the key)."""


def partition_of(key: bytes, partitions: int) -> int:
    """The partition librdkafka's default ``consistent_random`` partitioner gives a non-empty
    ``key``: its CRC-32 modulo the partition count.

    >>> [partition_of(f"asset-00{i}".encode(), 4) for i in range(4)]
    [2, 0, 2, 0]
    """
    if partitions < 1:
        raise ValueError(f"partitions must be at least 1, got {partitions}")
    if not key:
        raise ValueError("an empty key has no fixed partition (librdkafka picks one at random)")
    return zlib.crc32(key) % partitions


def phases_by_partition(names: Sequence[str], partitions: int) -> list[float]:
    """Each asset's phase within a tick (a fraction of the interval, evenly spread over
    ``[0, 1)``) such that the assets of one partition read one after another, partition by
    partition, in index order within each; one partition gives the index order itself.

    >>> phases_by_partition([f"asset-00{i}" for i in range(4)], 4)
    [0.5, 0.0, 0.75, 0.25]
    """
    keys = [(partition_of(name.encode(), partitions), index) for index, name in enumerate(names)]
    phases = [0.0] * len(names)
    for rank, (_, index) in enumerate(sorted(keys)):
        phases[index] = rank / len(names)
    return phases
