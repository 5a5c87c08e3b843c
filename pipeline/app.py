"""The consumer service: poll a batch, process it, produce the outputs, then commit offsets.

This is the only module that touches the Kafka consumer. Offsets are committed only after
every output of the batch was acknowledged by the broker (at-least-once); when a delivery
fails the service stops without committing, so a restart replays the batch.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer

from pipeline.errors import DeliveryError, KafkaTransportError
from pipeline.messages import Alert, encode
from pipeline.metrics import ServiceMetrics
from pipeline.processor import DeadLetter, Outcome, Processor, Source
from pipeline.settings import Settings

__all__ = ["Service"]
logger = logging.getLogger(__name__)

AlertListener = Callable[[Alert], None]


class Service:
    """Runs ``Processor`` over the readings topic until ``stop`` is set."""

    def __init__(
        self,
        settings: Settings,
        metrics: ServiceMetrics,
        on_alert: AlertListener | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.processor = Processor(settings)
        self.on_alert = on_alert
        self._delivery_errors: list[str] = []
        self._consumer = Consumer(self._consumer_config())
        self._producer = Producer(self._producer_config())

    def run(self, stop: threading.Event) -> None:
        """Consume, process and commit until ``stop`` is set; then commit and close."""
        serve = self.settings.serve
        self._consumer.subscribe([self.settings.topics.readings])
        logger.info("consuming", extra={"topic": self.settings.topics.readings})
        try:
            while not stop.is_set():
                batch = self._consumer.consume(serve.batch_size, serve.poll_timeout_s)
                if batch:
                    self._process_batch(batch)
        finally:
            self._close()

    def _process_batch(self, batch: list[Message]) -> None:
        started = time.perf_counter()
        for message in batch:
            error = message.error()
            if error is not None:
                self._on_consume_error(error)
                continue
            source = Source(
                message.topic() or "",
                message.partition() or 0,
                message.offset() or 0,
                message.key(),
            )
            self._emit(self.processor.process(message.value(), source))
        self._flush()
        try:
            self._consumer.commit(asynchronous=False)
        except KafkaException as exc:
            raise KafkaTransportError.from_kafka("offset commit failed", exc) from exc
        self.metrics.observe_batch(
            time.perf_counter() - started, len(self.processor.assets), self._consumer
        )

    def _emit(self, outcome: Outcome) -> None:
        topics = self.settings.topics
        self.metrics.observe_outcome(outcome)
        if outcome.dead_letter is not None:
            self._dead_letter(outcome.dead_letter)
            return
        score = outcome.score
        assert score is not None
        now: list[tuple[str, str | bytes]] = [
            ("linewatch.processed_at_ms", str(int(time.time() * 1000)))
        ]
        key = score.asset.encode()
        self._produce(topics.scores, key, encode(score), now)
        if outcome.alert is not None:
            self._produce(topics.alerts, key, encode(outcome.alert), now)
            self._count_alert(outcome.alert)

    def _dead_letter(self, letter: DeadLetter) -> None:
        source = letter.source
        headers: list[tuple[str, str | bytes]] = [
            ("error.class", letter.error_class.encode()),
            ("error.reason", letter.reason.encode()),
            ("error.message", letter.message.encode()),
            ("source.topic", source.topic.encode()),
            ("source.partition", str(source.partition).encode()),
            ("source.offset", str(source.offset).encode()),
        ]
        self._produce(self.settings.topics.deadletter, source.key, letter.value, headers)

    def _count_alert(self, alert: Alert) -> None:
        if self.on_alert is not None:
            self.on_alert(alert)

    def _produce(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: list[tuple[str, str | bytes]],
    ) -> None:
        while True:
            try:
                self._producer.produce(
                    topic, value=value, key=key, headers=headers, on_delivery=self._on_delivery
                )
                return
            except BufferError:  # local queue full: serve delivery reports, then retry
                self._producer.poll(0.1)

    def _on_delivery(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            self._delivery_errors.append(f"{message.topic()}: {error.str()}")

    def _flush(self) -> None:
        while self._producer.flush(1.0) > 0:
            logger.warning("waiting for the broker to acknowledge outputs")
        if self._delivery_errors:
            failed, self._delivery_errors = self._delivery_errors, []
            raise DeliveryError(
                f"{len(failed)} outputs were not delivered (first: {failed[0]}); "
                "offsets not committed, a restart replays the batch"
            )

    def _on_consume_error(self, error: KafkaError) -> None:
        if error.fatal():
            raise KafkaTransportError(f"fatal consumer error: {error.str()}", error.code())
        logger.warning("consumer error", extra={"error": error.str()})

    def _consumer_config(self) -> dict[str, str | int | bool]:
        return {
            **self.settings.client_config(),
            "group.id": self.settings.serve.group_id,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": False,
        }

    def _producer_config(self) -> dict[str, str | int | bool]:
        return {
            **self.settings.client_config(),
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
        }

    def _close(self) -> None:
        try:
            self._producer.flush(10.0)
        finally:
            self._consumer.close()
        logger.info("stopped")
