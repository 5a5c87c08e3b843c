"""The outputs of ``serve.processing = "at_least_once"``: an idempotent producer.

A commit flushes every output, checks the delivery reports and only then commits the
consumer's offsets, so a crash replays (and re-emits) what came after the last commit. An
output the producer refuses in ``produce`` raises :class:`~pipeline.outputs.CommitAborted` at
once, as one not delivered: the offsets are not committed past it, the caller replays; a
refusal the replay would meet again ends the service
(:func:`~pipeline.outputs.raise_if_refused_again`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import NoReturn

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from pipeline.outputs import (
    CALL_TIMEOUT_S,
    ClientConfig,
    CommitAborted,
    Headers,
    Output,
    raise_if_refused_again,
)
from pipeline.produce import produce_all, produce_many, produce_one

__all__ = ["AtLeastOnceOutputs"]
logger = logging.getLogger(__name__)


class AtLeastOnceOutputs:
    """An idempotent producer; offsets are committed once every output is acknowledged."""

    def __init__(self, config: ClientConfig) -> None:
        self._producer = Producer(
            {"linger.ms": 5, **config, "enable.idempotence": True, "acks": "all"}
        )
        self._failed: list[str] = []

    def produce(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Headers,
        partition: int,
        timestamp: int = 0,
    ) -> None:
        producer, on_delivery = self._producer, self._on_delivery
        try:
            produce_one(
                producer, topic, key, value, headers, partition, on_delivery, _wait, timestamp
            )
        except KafkaException as exc:
            _refused(exc)

    def produce_many(
        self, topic: str, records: Iterable[tuple[bytes | None, bytes]], headers: Headers | None
    ) -> None:
        try:
            produce_many(self._producer, topic, records, headers, self._on_delivery, _wait)
        except KafkaException as exc:
            _refused(exc)

    def produce_all(self, outputs: Sequence[Output]) -> None:
        try:
            produce_all(self._producer, outputs, self._on_delivery, _wait)
        except KafkaException as exc:
            _refused(exc)

    def commit(
        self, offsets: list[TopicPartition], consumer: Consumer, metadata: object = None
    ) -> None:
        while self._producer.flush(1.0) > 0:
            logger.warning("waiting for the broker to acknowledge outputs")
        if self._failed:
            failed, self._failed = self._failed, []
            raise CommitAborted(
                f"{len(failed)} outputs were not delivered (first: {failed[0]}); "
                "offsets not committed, replaying from the last commit"
            )
        if offsets:
            try:
                consumer.commit(offsets=offsets, asynchronous=False)
            except KafkaException as exc:
                raise CommitAborted.from_kafka("offset commit failed", exc) from exc

    def abort(self) -> None:
        """Nothing to discard: what was delivered stays (at-least-once)."""
        self._producer.flush(CALL_TIMEOUT_S)
        self._failed = []

    def close(self) -> None:
        self._producer.flush(CALL_TIMEOUT_S)

    def _on_delivery(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            self._failed.append(f"{message.topic()}: {error.str()}")


def _wait() -> None:
    """At-least-once waits out a full queue (its delivery reports say if outputs failed)."""


def _refused(exc: KafkaException) -> NoReturn:
    """An output the at-least-once producer refused: as for an output that was not delivered,
    the offsets must not be committed past it, so the caller replays from the last commit
    (with a new producer, should this one have had a fatal error); a refusal the replay would
    meet again ends the service (:func:`~pipeline.outputs.raise_if_refused_again`)."""
    raise_if_refused_again(exc)
    raise CommitAborted.from_kafka(
        "producing an output failed; offsets not committed, replaying from the last commit", exc
    ) from exc
