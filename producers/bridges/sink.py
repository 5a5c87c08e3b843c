"""Where a bridge sends its output: readings to Kafka, bad input to the dead-letter topic.

:class:`BridgeSink` is the project's :class:`~producers.publish.KafkaPublisher` (idempotent,
``acks=all``, keyed by asset) with two additions a gateway needs: a per-message callback when
Kafka has acknowledged (or finally refused) a record, so the bridge can acknowledge its source
only then, and dead letters with headers in the service's convention.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from confluent_kafka import KafkaError, Message

from pipeline.errors import DecodeError
from pipeline.messages import Reading, encode
from producers.metrics import ProducerMetrics
from producers.publish import KafkaPublisher

__all__ = ["BridgeSink", "Done", "deadletter_headers"]

logger = logging.getLogger(__name__)

Done = Callable[[bool], None]
"""Called once per record with ``True`` when Kafka acknowledged it, ``False`` when it failed."""


def deadletter_headers(
    error: DecodeError, source_topic: str, source: str, received_ms: int
) -> list[tuple[str, str | bytes]]:
    """The service's dead-letter headers, with ``source.topic`` the MQTT topic or OPC UA node.

    >>> headers = deadletter_headers(DecodeError("wrong_type", "bad"), "plant/a", "mqtt", 5)
    >>> [(name, bytes(value).decode()) for name, value in headers][:3]
    [('error.class', 'DecodeError'), ('error.reason', 'wrong_type'), ('error.message', 'bad')]
    """
    return [
        ("error.class", type(error).__name__.encode()),
        ("error.reason", error.reason.encode()),
        ("error.message", error.message.encode()),
        ("source.topic", source_topic.encode()),
        ("source.system", source.encode()),
        ("source.received_at_ms", str(received_ms).encode()),
    ]


class BridgeSink(KafkaPublisher):
    """Readings and dead letters to Kafka, counted in ``metrics``, each with a ``done`` callback.

    Delivery callbacks (and so ``done``) run in the thread that calls :meth:`poll`; ``send``
    serves them only while the local queue is full.
    """

    def __init__(
        self,
        client_config: dict[str, str],
        readings_topic: str,
        deadletter_topic: str,
        metrics: ProducerMetrics,
        source: str,
    ) -> None:
        # The base class's own metric counting stays off (metrics=None): the bridge counts
        # every delivery in its per-message callback, where it also acknowledges the source.
        super().__init__(client_config, readings_topic, labels_topic=readings_topic)
        self.deadletter_topic = deadletter_topic
        self.bridge_metrics = metrics
        self.source = source

    def send(self, reading: Reading, done: Done | None = None) -> None:
        """Queue one reading keyed by its asset."""
        self._produce(self.readings_topic, encode(reading), reading.asset.encode(), done, None)

    def send_deadletter(
        self,
        payload: bytes,
        key: bytes | None,
        error: DecodeError,
        source_topic: str,
        done: Done | None = None,
    ) -> None:
        """Queue a source message that could not become a reading, with why in its headers."""
        now_ms = int(time.time() * 1000)
        headers = deadletter_headers(error, source_topic, self.source, now_ms)
        self.bridge_metrics.deadletter(error.reason)
        logger.warning(
            "dead letter",
            extra={"source_topic": source_topic, "reason": error.reason, "error": error.message},
        )
        self._produce(self.deadletter_topic, payload, key, done, headers)

    def poll(self, timeout_s: float) -> None:
        """Serve delivery callbacks for up to ``timeout_s``."""
        self._producer.poll(timeout_s)

    def _produce(
        self,
        topic: str,
        value: bytes,
        key: bytes | None,
        done: Done | None,
        headers: list[tuple[str, str | bytes]] | None,
    ) -> None:
        is_reading = topic == self.readings_topic

        def on_delivery(error: KafkaError | None, message: Message) -> None:
            self._on_delivery(error, message)
            if error is None:
                if is_reading:
                    self.bridge_metrics.readings_sent.inc()
            else:
                self.bridge_metrics.delivery_errors.inc()
                logger.error("delivery failed", extra={"topic": topic, "error": error.str()})
            if done is not None:
                done(error is None)

        while True:
            try:
                self._producer.produce(topic, value, key, headers=headers, on_delivery=on_delivery)
                break
            except BufferError:  # local queue full: bounded memory, wait for deliveries
                self._producer.poll(0.1)
