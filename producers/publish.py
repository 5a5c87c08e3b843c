"""Where produced records go: Kafka (``KafkaPublisher``) or files (:mod:`producers.files`).

Both follow the same small contract, :class:`Publisher`: ``publish`` each record, ``flush`` to
make sure everything arrived (raising :class:`~pipeline.errors.DeliveryError` if not), ``close``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from types import TracebackType
from typing import Protocol, Self

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from pipeline.auth import AuthWatch
from pipeline.errors import DeliveryError, KafkaTransportError
from pipeline.messages import Label, Reading, encode
from producers.metrics import ProducerMetrics
from producers.partitioning import DEFAULT_PARTITIONER
from producers.records import Encoded

__all__ = ["Closing", "KafkaPublisher", "Publisher"]
logger = logging.getLogger(__name__)

_PRODUCER_DEFAULTS = {
    # A reading waits at most this long for its batch: it counts in the event-to-score
    # latency (librdkafka's own default; 20 ms was most of the bench's p50).
    "linger.ms": "5",
    "compression.type": "lz4",
    "client.id": "linewatch",
    # Bounded memory when the broker is slow: produce() blocks (serving delivery reports)
    # once this many messages or kilobytes wait locally.
    "queue.buffering.max.messages": "100000",
    "queue.buffering.max.kbytes": "65536",
}
_SERVE_EVERY = 256  # produce calls between polls for delivery reports ...
_SERVE_AFTER_S = 0.2  # ... or seconds, whichever comes first
_PRODUCER_REQUIRED = {"enable.idempotence": "true", "acks": "all"}


class Publisher(Protocol):
    """Somewhere readings and labels can be sent."""

    def publish(self, record: Reading | Label | Encoded) -> None: ...

    def flush(self, timeout_s: float = 30.0) -> None: ...

    def close(self) -> None: ...


class Closing:
    """Context-manager support: flush on a clean exit, always close."""

    def flush(self, timeout_s: float = 30.0) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None:
                self.flush()
        finally:
            self.close()


class KafkaPublisher(Closing):
    """Idempotent, batching producer: readings and labels keyed by asset id.

    ``client_config`` holds librdkafka properties (``bootstrap.servers``, ``security.protocol``,
    ...); ``enable.idempotence=true`` and ``acks=all`` are always set, so librdkafka retries a
    failed send without duplicates or reordering until ``delivery.timeout.ms``. What still
    fails is counted (``failed``, the ``delivery_errors`` metric), logged once, and raised as
    :class:`DeliveryError` by :meth:`flush`: never lost silently. ``delivered`` counts
    acknowledged records; ``metrics`` (optional) counts them by kind. At most
    ``queue.buffering.max.messages`` records wait in memory: beyond that ``publish`` blocks.
    """

    def __init__(
        self,
        client_config: dict[str, str],
        readings_topic: str,
        labels_topic: str,
        metrics: ProducerMetrics | None = None,
    ) -> None:
        self._auth = AuthWatch()  # refused credentials raise ConfigError instead of retrying
        config: dict[str, object] = {
            **_PRODUCER_DEFAULTS,
            **client_config,
            **_PRODUCER_REQUIRED,
            "on_delivery": self._on_delivery,  # once here is cheaper than on every produce
            "error_cb": self._auth,
        }
        try:
            self._producer = Producer(config)
        except Exception as exc:  # KafkaException for bad properties
            raise KafkaTransportError(f"cannot create Kafka producer: {exc}") from exc
        self.readings_topic, self.labels_topic = readings_topic, labels_topic
        self.partitioner = str(config.get("partitioner", DEFAULT_PARTITIONER))
        """librdkafka's ``partitioner`` for keyed records (its default unless configured)."""
        self.delivered = 0
        self.failed = 0
        self.first_error: KafkaError | None = None
        self.metrics = metrics
        self.delivered_readings = 0
        self._unserved, self._served = 0, time.monotonic()
        self._counts = (0, 0, 0)  # readings, labels, errors already in the metrics

    def publish(self, record: Reading | Label | Encoded) -> None:
        """Queue one record; when the local queue is full, serve deliveries and retry."""
        self._queue(record)
        self._unserved += 1
        if self._unserved >= _SERVE_EVERY or time.monotonic() - self._served > _SERVE_AFTER_S:
            self.serve(0)

    def publish_many(self, records: Sequence[Reading | Label | Encoded]) -> None:
        """:meth:`publish` of each record, in order, then serve the delivery reports once: for
        records that come a timestamp at a time (the bench's load generator), where
        ``publish`` would check the clock after every record."""
        for record in records:
            self._queue(record)
        self.serve(0)

    def _queue(self, record: Reading | Label | Encoded) -> None:
        """Produce ``record`` to its topic, keyed by its asset; while the local queue is full,
        serve deliveries and retry."""
        if type(record) is Encoded:
            topic, value = self.readings_topic, record.payload
        else:
            topic = self.readings_topic if isinstance(record, Reading) else self.labels_topic
            value = encode(record)  # type: ignore[arg-type]
        key = record.asset.encode()
        while True:
            try:
                self._producer.produce(topic, value, key)
                return
            except BufferError:
                self.serve(0.1)
                self._auth.check()

    def readings_partitions(self, timeout_s: float = 5.0) -> int | None:
        """How many partitions the readings topic has, as the broker's metadata says within
        ``timeout_s``; ``None`` if it does not say (no such topic, no answer). Refused
        credentials raise :class:`~pipeline.errors.ConfigError`, as :meth:`flush` does."""
        topic = self.readings_topic
        try:
            metadata = self._producer.list_topics(topic, timeout=timeout_s).topics.get(topic)
        except KafkaException:
            self.serve(0)  # its error callback says whether credentials were refused
            return None
        if metadata is None or metadata.error is not None or not metadata.partitions:
            return None
        return len(metadata.partitions)

    def flush(self, timeout_s: float = 30.0) -> None:
        """Wait for every queued record; raise :class:`DeliveryError` if any was not delivered."""
        deadline = time.monotonic() + timeout_s
        remaining = self._producer.flush(min(timeout_s, 1.0))
        while remaining > 0 and time.monotonic() < deadline:
            self._auth.check()
            remaining = self._producer.flush(min(deadline - time.monotonic(), 1.0))
        self._report()
        self._auth.check()
        if remaining > 0:
            raise DeliveryError(f"{remaining} messages were not delivered within {timeout_s} s")
        if self.failed:
            error = self.first_error
            code = error.code() if error is not None else None
            raise DeliveryError(f"{self.failed} messages failed; first error: {error}", code)

    def close(self, timeout_s: float = 5.0) -> None:
        """Give queued records up to ``timeout_s`` to leave; never raises (use :meth:`flush`)."""
        self._producer.flush(timeout_s)
        self._report()

    def serve(self, timeout_s: float) -> None:
        """Serve the producer's callbacks (delivery reports, statistics) for up to
        ``timeout_s`` (``publish`` does it every so many records: polling after every
        produce costs a third)."""
        self._producer.poll(timeout_s)
        self._unserved, self._served = 0, time.monotonic()
        self._report()
        self._auth.check()

    def _report(self) -> None:
        """Move the delivery counts into the Prometheus counters."""
        if self.metrics is None:
            return
        readings, labels, errors = self._counts
        self.metrics.readings_sent.inc(self.delivered_readings - readings)
        self.metrics.labels_sent.inc(self.delivered - self.delivered_readings - labels)
        self.metrics.delivery_errors.inc(self.failed - errors)
        self._counts = (
            self.delivered_readings,
            self.delivered - self.delivered_readings,
            self.failed,
        )

    def _on_delivery(self, error: KafkaError | None, message: Message) -> None:
        if error is None:
            self.delivered += 1
            if message.topic() == self.readings_topic:
                self.delivered_readings += 1
            return
        self.failed += 1
        if self.first_error is None:
            self.first_error = error
            logger.error("delivery failed to %s: %s", message.topic(), error)
