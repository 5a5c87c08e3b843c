"""Queue outputs on a confluent-kafka producer, waiting while its local queue is full.

The loops :mod:`pipeline.outputs` produces with, one output or many at a time. They pass
``Producer.produce`` positional arguments: confluent-kafka parses keyword arguments at
~0.5 us a call, half of what a produce costs. Its slots, in order (confluent-kafka 2.x):
topic, value, key, partition, callback, on_delivery, timestamp, headers
(``tests/integration/test_produce_slots.py`` reads back what lands where).

When the local queue is full (``BufferError``) the producer serves its delivery reports
(``poll``), ``on_full`` may give up (by raising), and the output is retried.

The loops for many outputs first serve the delivery reports due (``poll(0)``). librdkafka
counts a delivered message against ``queue.buffering.max.messages`` (100,000) until its report
is served, even with ``delivery.report.only.error``, and only ``poll``, ``flush`` and the
transaction's commit serve them. Without this, the queue filled at 100,000 outputs, i.e.
just before a checkpoint of ``serve.commit_every`` (100,000) readings: the round then waited
in ``poll`` while it freed them all (35-55 ms of CPU, 50-100 ms of wall, measured in the
bench's latency arm at 28,000 readings/s). Served every batch, they are freed a batch's worth
at a time (~0.3 us an output, as before) and the queue holds only what is in flight.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from confluent_kafka import KafkaError, Message, Producer

__all__ = ["Headers", "OnDelivery", "Output", "produce_all", "produce_many", "produce_one"]

Headers = list[tuple[str, str | bytes]]
Output = tuple[str, bytes | None, bytes | None, Headers | None, int, int]
"""An output as :meth:`pipeline.outputs.Outputs.produce` takes its arguments: topic, key,
value, headers, partition and timestamp (``HeldOutput`` is one)."""
OnDelivery = Callable[[KafkaError | None, Message], None] | None


def produce_one(
    producer: Producer,
    topic: str,
    key: bytes | None,
    value: bytes | None,
    headers: Headers | None,
    partition: int,
    on_delivery: OnDelivery,
    on_full: Callable[[], None],
    timestamp: int = 0,
) -> None:
    """Queue one output, retrying while the local queue is full."""
    while True:
        try:
            producer.produce(topic, value, key, partition, on_delivery, None, timestamp, headers)
            return
        except BufferError:  # local queue full: serve delivery reports, then retry
            producer.poll(0.1)
            on_full()


def produce_many(
    producer: Producer,
    topic: str,
    records: Iterable[tuple[bytes | None, bytes]],
    headers: Headers | None,
    on_delivery: OnDelivery,
    on_full: Callable[[], None],
) -> None:
    """:func:`produce_one` of each ``(key, value)`` record (any partition, the producer's
    clock), with one Python frame for the lot instead of two each; the delivery reports due
    are served first (see the module docstring)."""
    producer.poll(0)
    produce = producer.produce
    for key, value in records:
        try:
            produce(topic, value, key, -1, on_delivery, None, 0, headers)
        except BufferError:  # the local queue is full: the slow way, which waits
            produce_one(producer, topic, key, value, headers, -1, on_delivery, on_full)


def produce_all(
    producer: Producer,
    outputs: Sequence[Output],
    on_delivery: OnDelivery,
    on_full: Callable[[], None],
) -> None:
    """:func:`produce_one` of each output, with one Python frame for the lot; the delivery
    reports due are served first (see the module docstring)."""
    producer.poll(0)
    produce = producer.produce
    for topic, key, value, headers, partition, timestamp in outputs:
        try:
            produce(topic, value, key, partition, on_delivery, None, timestamp, headers)
        except BufferError:  # the local queue is full: the slow way, which waits
            produce_one(
                producer, topic, key, value, headers, partition, on_delivery, on_full, timestamp
            )
