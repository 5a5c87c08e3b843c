"""The bench's broker, topics and preloaded input.

:func:`broker` yields the given bootstrap servers or starts a throw-away local broker;
:func:`preload` fills a fresh readings topic with the simulator's fleet as fast as a plain
producer can send it.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic

from pipeline.broker.local import BrokerConfig, LocalBroker, default_cache_dir
from pipeline.broker.process import free_port
from pipeline.messages import Label
from producers.simulator import Fleet

__all__ = [
    "broker",
    "create",
    "delete",
    "end_offsets",
    "preload",
    "read_to_end",
    "unique",
    "wait_until",
]

START_TS_MS = 1_700_000_000_000


@contextmanager
def broker(bootstrap: str | None, started: Callable[[int], object] | None = None) -> Iterator[str]:
    """The given broker, or a local one on a free port with its data in a temporary dir (its
    process id passed to ``started`` once it serves)."""
    if bootstrap:
        yield bootstrap
        return
    with tempfile.TemporaryDirectory(prefix="linewatch-bench-") as data_dir:
        config = BrokerConfig(
            port=free_port("127.0.0.1"), data_dir=Path(data_dir), cache_dir=default_cache_dir()
        )
        local = LocalBroker(config)
        status = local.start(timeout_s=120)
        assert status.bootstrap is not None and status.pid is not None
        try:
            if started is not None:
                started(status.pid)
            yield status.bootstrap
        finally:
            local.stop()


def unique(prefix: str) -> str:
    """``prefix`` with a random suffix: a topic or group name no earlier run used."""
    return f"{prefix}.{uuid.uuid4().hex[:8]}"


def create(bootstrap: str, names: list[str], partitions: int) -> None:
    """Create ``names`` with ``partitions`` partitions each (replication factor 1)."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(name, partitions, 1) for name in names])
    for future in futures.values():
        future.result()


def delete(bootstrap: str, names: list[str]) -> None:
    """Delete ``names`` (best effort: a failure is ignored)."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.delete_topics(names, operation_timeout=30).values():
        future.exception()


def preload(bootstrap: str, topic: str, readings: int, assets: int, seed: int = 1) -> int:
    """Send ``readings // assets`` ticks of a healthy ``assets``-machine fleet to ``topic``.

    Readings are keyed by asset, one per asset per simulated second from ``START_TS_MS``;
    the producer is the simulator's (lz4, linger 20 ms), idempotent so that a retried batch
    can neither be lost, land twice nor land after a later one (which would make its readings
    out-of-order dead letters, not scores). Returns the readings delivered; a failed delivery
    is an error.
    """
    fleet = Fleet(assets, seed=seed, interval_s=1.0, start_ts_ms=START_TS_MS)
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "linger.ms": "20",
            "compression.type": "lz4",
            "queue.buffering.max.messages": "200000",
            "enable.idempotence": True,
        }
    )
    failures: list[str] = []

    def delivered(error: KafkaError | None, message: Message) -> None:
        if error is not None:
            failures.append(str(error))

    sent = 0
    for record in fleet.encoded(readings // assets):
        if isinstance(record, Label):
            continue
        while True:
            try:
                producer.produce(
                    topic, record.payload, record.asset.encode(), on_delivery=delivered
                )
                break
            except BufferError:
                producer.poll(0.05)
        sent += 1
        if sent % 1000 == 0:
            producer.poll(0)
    if producer.flush(120) != 0:
        raise RuntimeError(f"preload of {topic} did not finish")
    if failures:
        raise RuntimeError(f"preload of {topic}: {len(failures)} not delivered ({failures[0]})")
    return sent


def end_offsets(bootstrap: str, topic: str, partitions: int) -> dict[int, int]:
    """The high watermark of each partition of ``topic``."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": unique("bench-offsets")})
    try:
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in range(partitions)
        }
    finally:
        consumer.close()


def wait_until(
    condition: Callable[[], bool], timeout_s: float, what: str, every_s: float = 0.1
) -> None:
    """Poll ``condition()`` every ``every_s`` until true; raise ``TimeoutError`` naming ``what``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(every_s)
    raise TimeoutError(f"timed out after {timeout_s:g} s waiting for {what}")


def read_to_end(
    bootstrap: str, topic: str, on_message: Callable[[Message], None], timeout_s: float = 120.0
) -> None:
    """Call ``on_message`` for every committed message of ``topic`` up to its current end.

    Reads with ``read_committed`` from the start of every partition (assigned, no group to
    join) until each position reaches the partition's high watermark as it was when called.
    Raises ``TimeoutError`` when that takes longer than ``timeout_s``.
    """
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": unique("bench-reader"),
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
    )
    try:
        metadata = consumer.list_topics(topic, timeout=10).topics[topic]
        ends = {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in metadata.partitions
        }
        pending = [TopicPartition(topic, p, OFFSET_BEGINNING) for p, end in ends.items() if end]
        consumer.assign(pending)
        deadline = time.monotonic() + timeout_s
        while pending:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic} was not read to its end in {timeout_s:g} s")
            for message in consumer.consume(1000, 0.2):
                if message.error() is None:
                    on_message(message)
            positions = consumer.position(pending)
            pending = [p for p in positions if p.offset < ends[p.partition]]
    finally:
        consumer.close()
