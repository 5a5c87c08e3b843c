"""Where the service's outputs go, and how they commit together with the consumer's offsets.

Two implementations of one small interface (``produce`` / ``commit`` / ``abort``):

- :class:`TransactionalOutputs` (``serve.processing = "exactly_once"``): scores, alerts, dead
  letters, state snapshots and the consumer's offsets commit in one Kafka transaction. Errors
  are handled as librdkafka documents them: retriable ones are retried, abortable ones raise
  :class:`CommitAborted` after the transaction was aborted, fatal ones (e.g. fenced by a newer
  instance with the same ``transactional.id``) raise :class:`KafkaTransportError`.
- :class:`AtLeastOnceOutputs`: an idempotent producer; a commit flushes every output, checks
  the delivery reports and only then commits the offsets.

After :class:`CommitAborted` the caller rewinds: restores the state of the last commit and
seeks back to the committed offsets.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from pipeline.errors import KafkaTransportError

__all__ = [
    "AtLeastOnceOutputs",
    "ClientConfig",
    "CommitAborted",
    "Headers",
    "Outputs",
    "TransactionalOutputs",
]
logger = logging.getLogger(__name__)

Headers = list[tuple[str, str | bytes]]
ClientConfig = dict[str, str | int | bool | Callable[[KafkaError], None]]

_CALL_TIMEOUT_S = 30.0
_RETRY_PAUSE_S = 0.5


class CommitAborted(KafkaTransportError):
    """The outputs since the last commit were discarded (the transaction was aborted)."""


class Outputs(Protocol):
    """Produce outputs and commit them with the consumer's offsets."""

    def produce(
        self, topic: str, key: bytes | None, value: bytes | None, headers: Headers, partition: int
    ) -> None:
        """Queue one output (``partition`` -1 lets the partitioner choose)."""

    def commit(self, offsets: list[TopicPartition], consumer: Consumer) -> None:
        """Make every queued output and ``offsets`` durable; :class:`CommitAborted` if not."""

    def abort(self) -> None:
        """Discard what was produced since the last commit, as far as the mode allows."""

    def close(self) -> None:
        """Release the producer (uncommitted outputs are discarded)."""


class TransactionalOutputs:
    """A transactional producer: outputs and offsets commit in one transaction."""

    def __init__(
        self,
        config: ClientConfig,
        transactional_id: str,
        timeout_ms: int,
        check: Callable[[], None] = lambda: None,
        lost: Callable[[], bool] = lambda: False,
    ) -> None:
        self._check = check
        self._lost = lost
        self._timeout_s = timeout_ms / 1000.0
        self._producer = Producer(
            {
                **config,
                "transactional.id": transactional_id,
                "transaction.timeout.ms": timeout_ms,
                "linger.ms": 5,
            }
        )
        self._open = False
        # Fences an earlier producer with this id and aborts what it left open.
        self._call(
            "initialising transactions",
            lambda: self._producer.init_transactions(5.0),
            abortable_is_error=True,
        )

    def produce(
        self, topic: str, key: bytes | None, value: bytes | None, headers: Headers, partition: int
    ) -> None:
        if not self._open:
            self._call("beginning a transaction", self._producer.begin_transaction)
            self._open = True
        _produce(self._producer, topic, key, value, headers, partition, None, self._on_full)

    def _on_full(self) -> None:
        """The local queue is full: give up the transaction if the brokers went away."""
        self._check()
        if self._lost():
            raise CommitAborted("the brokers went away with the outputs queue full")

    def commit(self, offsets: list[TopicPartition], consumer: Consumer) -> None:
        if not self._open:
            if not offsets:
                return
            self._call("beginning a transaction", self._producer.begin_transaction)
            self._open = True
        try:
            if offsets:
                metadata = consumer.consumer_group_metadata()
                self._call(
                    "sending offsets to the transaction",
                    lambda: self._producer.send_offsets_to_transaction(
                        offsets, metadata, _CALL_TIMEOUT_S
                    ),
                )
            self._call(
                "committing the transaction",
                lambda: self._producer.commit_transaction(_CALL_TIMEOUT_S),
            )
        finally:
            self._open = False

    def abort(self) -> None:
        if self._open:
            self._call(
                "aborting the transaction",
                lambda: self._producer.abort_transaction(_CALL_TIMEOUT_S),
                abortable_is_error=True,
            )
            self._open = False

    def close(self) -> None:
        self._producer.purge()
        self._producer.flush(0)

    def _call(
        self, what: str, call: Callable[[], object], abortable_is_error: bool = False
    ) -> None:
        """Run a transactional API call: retry retriable errors, classify the others.

        Anything but a fatal error ends in :class:`CommitAborted` (after retries, for
        retriable errors, until the transaction timeout): the caller then replaces the
        producer, whose successor aborts the open transaction when it initialises.
        """
        deadline = time.monotonic() + self._timeout_s
        while True:
            try:
                call()
                return
            except KafkaException as exc:
                error = exc.args[0] if exc.args else None
                if not isinstance(error, KafkaError) or error.fatal():
                    raise KafkaTransportError.from_kafka(f"{what} failed (fatal)", exc) from exc
                self._producer.poll(0)  # serves error_cb, which notes refused credentials
                self._check()
                if abortable_is_error and not error.retriable():
                    raise KafkaTransportError.from_kafka(f"{what} failed", exc) from exc
                if (
                    error.txn_requires_abort()
                    or not error.retriable()
                    or (time.monotonic() > deadline and not abortable_is_error)
                ):
                    raise CommitAborted.from_kafka(f"{what} failed", exc) from exc
                logger.warning("%s: %s; retrying", what, error.str())
                time.sleep(_RETRY_PAUSE_S)


class AtLeastOnceOutputs:
    """An idempotent producer; offsets are committed once every output is acknowledged."""

    def __init__(self, config: ClientConfig) -> None:
        self._producer = Producer(
            {**config, "enable.idempotence": True, "acks": "all", "linger.ms": 5}
        )
        self._failed: list[str] = []

    def produce(
        self, topic: str, key: bytes | None, value: bytes | None, headers: Headers, partition: int
    ) -> None:
        _produce(
            self._producer, topic, key, value, headers, partition, self._on_delivery, lambda: None
        )

    def commit(self, offsets: list[TopicPartition], consumer: Consumer) -> None:
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
        self._producer.flush(_CALL_TIMEOUT_S)
        self._failed = []

    def close(self) -> None:
        self._producer.flush(_CALL_TIMEOUT_S)

    def _on_delivery(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            self._failed.append(f"{message.topic()}: {error.str()}")


def _produce(
    producer: Producer,
    topic: str,
    key: bytes | None,
    value: bytes | None,
    headers: Headers,
    partition: int,
    on_delivery: Callable[[KafkaError | None, Message], None] | None,
    on_full: Callable[[], None],
) -> None:
    while True:
        try:
            if on_delivery is None:
                producer.produce(topic, value=value, key=key, partition=partition, headers=headers)
            else:
                producer.produce(
                    topic,
                    value=value,
                    key=key,
                    partition=partition,
                    headers=headers,
                    on_delivery=on_delivery,
                )
            return
        except BufferError:  # local queue full: serve delivery reports, then retry
            producer.poll(0.1)
            on_full()
