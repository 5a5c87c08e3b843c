"""Where the service's outputs go, and how they commit together with the consumer's offsets.

Two implementations of one small interface (``produce`` / ``commit`` / ``abort``):

- :class:`TransactionalOutputs` (``serve.processing = "exactly_once"``): scores, alerts, dead
  letters, state snapshots and the consumer's offsets commit in one Kafka transaction. Errors
  are handled as librdkafka documents them: retriable ones are retried, abortable ones raise
  :class:`CommitAborted` after the transaction was aborted, fatal ones (e.g. fenced by a newer
  instance with the same ``transactional.id``) raise :class:`KafkaTransportError`. An output
  the producer refuses (``produce`` raising ``KafkaException``: unknown partition, message
  too large, a transaction already failed) is handled the same way: the transaction cannot
  commit, so :class:`CommitAborted` (or the fatal error); a refusal of the output itself
  (too large, unknown partition or topic), which the replay would meet again, ends the
  service with :class:`KafkaTransportError` instead of replaying forever.
- :class:`~pipeline.outputs_at_least_once.AtLeastOnceOutputs` (``at_least_once``, in its own
  module): an idempotent producer; a commit flushes every output, checks the delivery
  reports and only then commits the offsets.

After :class:`CommitAborted` the caller rewinds: restores the state of the last commit and
seeks back to the committed offsets.

Every transactional call runs with a deadline (:func:`pipeline.deadline.call_with_deadline`):
after a broker outage librdkafka's ``send_offsets_to_transaction`` can block past its timeout
for good (confluentinc/librdkafka#5456, #5511). A call still blocked at the commit deadline
raises :class:`ProducerWedged` (a :class:`CommitAborted`): the caller replaces the producer,
whose successor (same ``transactional.id``) fences the stuck one and aborts its transaction.
The transactional producer also starts with ``metadata.recovery.strategy=none``: the
re-bootstrap librdkafka otherwise does when every broker is down decommissions the broker it
may still hold as the group coordinator, one way the call gets stuck (#5511; seen here in
debug logs). A call still got stuck with it set, so the deadline remains the guarantee.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import NoReturn, Protocol

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from pipeline.deadline import Overdue, call_with_deadline
from pipeline.errors import KafkaTransportError, kafka_error
from pipeline.produce import Headers, Output, produce_all, produce_many, produce_one

__all__ = [
    "CALL_TIMEOUT_S",
    "ClientConfig",
    "CommitAborted",
    "Headers",
    "Output",
    "Outputs",
    "ProducerWedged",
    "TransactionalOutputs",
    "raise_if_refused_again",
]
logger = logging.getLogger(__name__)

ClientConfig = dict[str, str | int | bool | Callable[[KafkaError], None]]

CALL_TIMEOUT_S = 30.0
_INIT_TIMEOUT_S = 5.0
_OVERDUE_GRACE_S = 2.0
"""How long past its own timeout a transactional call may block before it is given up."""
_RETRY_PAUSE_S = 0.5
_FATAL = KafkaError._FATAL
_REFUSED_AGAIN_ON_REPLAY = frozenset(
    {
        KafkaError.MSG_SIZE_TOO_LARGE,
        KafkaError._UNKNOWN_PARTITION,
        KafkaError._UNKNOWN_TOPIC,
        KafkaError._INVALID_ARG,
    }
)
"""Refusals of an output itself (its size, its partition or topic): the replay after an
aborted commit would make the same output and meet the same refusal, forever, so these end
the service with the error instead (as a snapshot above ``state.max_snapshot_bytes`` does)."""


class CommitAborted(KafkaTransportError):
    """The outputs since the last commit were discarded (the transaction was aborted)."""


class ProducerWedged(CommitAborted):
    """A transactional call did not return in time: the producer must be replaced."""


class Outputs(Protocol):
    """Produce outputs and commit them with the consumer's offsets."""

    def produce(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Headers,
        partition: int,
        timestamp: int = 0,
    ) -> None:
        """Queue one output (``partition`` -1 lets the partitioner choose; ``timestamp`` in
        ms, 0 for now)."""

    def produce_many(
        self, topic: str, records: Iterable[tuple[bytes | None, bytes]], headers: Headers | None
    ) -> None:
        """Queue ``(key, value)`` records in order, all with ``headers`` (the partitioner's)."""

    def produce_all(self, outputs: Sequence[Output]) -> None:
        """:meth:`produce` of each output, in order (those held during a background commit)."""

    def commit(
        self, offsets: list[TopicPartition], consumer: Consumer, metadata: object = None
    ) -> None:
        """Make every queued output and ``offsets`` durable; :class:`CommitAborted` if not.

        ``metadata``: the consumer's group metadata, if taken already (a commit in another
        thread than the consumer's must not call the consumer: confluent-kafka serialises
        calls on a client, so it would wait for the consumer's ``consume``).
        """

    def abort(self) -> None:
        """Discard what was produced since the last commit, as far as the mode allows."""

    def close(self) -> None:
        """Release the producer (uncommitted outputs are discarded)."""


class TransactionalOutputs:
    """A transactional producer: outputs and offsets commit in one transaction.

    ``commit_timeout_s`` bounds a commit (sending the offsets and committing, retries
    included) and an abort; past it the commit ends in :class:`CommitAborted`, or in
    :class:`ProducerWedged` when a call is still blocked in librdkafka.

    Once the producer refused an output, the open transaction lacks it: every later output
    and the commit raise :class:`CommitAborted` until :meth:`abort` (the service renews the
    producer instead, which aborts it), so a caller that went on could never commit the
    transaction without that output.
    """

    _refusal: KafkaException | None = None
    """The refusal that doomed the open transaction, if one did."""

    def __init__(
        self,
        config: ClientConfig,
        transactional_id: str,
        timeout_ms: int,
        check: Callable[[], None] = lambda: None,
        lost: Callable[[], bool] = lambda: False,
        commit_timeout_s: float = CALL_TIMEOUT_S,
    ) -> None:
        self._check = check
        self._lost = lost
        self._commit_timeout_s = commit_timeout_s
        self._config: ClientConfig = {
            "metadata.recovery.strategy": "none",  # see the module docstring (#5511)
            "linger.ms": 5,  # unless ``config`` says (``serve.linger_ms``)
            **config,
            "transactional.id": transactional_id,
            "transaction.timeout.ms": timeout_ms,
            # nothing here reads a delivery report (the commit fails if an output did):
            # reporting only failures saves librdkafka and the commit ~1.5 us per output
            "delivery.report.only.error": True,
        }
        self._open = False
        self._wedged = False
        self._producer = self._initialised_producer()

    def _initialised_producer(self) -> Producer:
        """A producer whose ``init_transactions`` fenced its predecessors (retried until then)."""
        while True:
            producer = Producer(self._config)
            self._producer = producer
            try:
                self._call(
                    "initialising transactions",
                    producer.init_transactions,
                    _INIT_TIMEOUT_S,
                    abortable_is_error=True,
                )
                return producer
            except ProducerWedged as exc:
                logger.warning("%s: starting another producer", exc)
                self._wedged = False

    def produce(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Headers,
        partition: int,
        timestamp: int = 0,
    ) -> None:
        self._raise_if_refused()
        if not self._open:
            self._begin()
        producer, on_full = self._producer, self._on_full
        try:
            produce_one(producer, topic, key, value, headers, partition, None, on_full, timestamp)
        except KafkaException as exc:
            self._refused(exc)

    def produce_many(
        self, topic: str, records: Iterable[tuple[bytes | None, bytes]], headers: Headers | None
    ) -> None:
        self._raise_if_refused()
        if not self._open:
            self._begin()
        try:
            produce_many(self._producer, topic, records, headers, None, self._on_full)
        except KafkaException as exc:
            self._refused(exc)

    def produce_all(self, outputs: Sequence[Output]) -> None:
        self._raise_if_refused()
        if not self._open:
            self._begin()
        try:
            produce_all(self._producer, outputs, None, self._on_full)
        except KafkaException as exc:
            self._refused(exc)

    def _refused(self, exc: KafkaException) -> NoReturn:
        """The producer refused an output: this transaction cannot commit any more.

        :meth:`_classify` decides as for a transactional call that is out of time: a fatal
        error (e.g. ``_FATAL`` after this producer was fenced) raises
        :class:`KafkaTransportError`, anything else :class:`CommitAborted`; so does a refusal
        the replay would meet again (:data:`_REFUSED_AGAIN_ON_REPLAY`).
        """
        self._refusal = exc
        raise_if_refused_again(exc)
        self._classify("producing an output", exc, abortable_is_error=False, late=True)
        raise CommitAborted.from_kafka("producing an output failed", exc) from exc

    def _raise_if_refused(self) -> None:
        """:class:`CommitAborted` if an output of the open transaction was refused."""
        if self._refusal is not None:
            raise CommitAborted.from_kafka(
                "the transaction lacks an output the producer refused", self._refusal
            )

    def _begin(self) -> None:
        self._call("beginning a transaction", lambda _: self._producer.begin_transaction(), 0)
        self._open = True

    def _on_full(self) -> None:
        """The local queue is full: give up the transaction if the brokers went away."""
        self._check()
        if self._lost():
            raise CommitAborted("the brokers went away with the outputs queue full")

    def commit(
        self, offsets: list[TopicPartition], consumer: Consumer, metadata: object = None
    ) -> None:
        self._raise_if_refused()
        if not self._open:
            if not offsets:
                return
            self._begin()
        deadline = time.monotonic() + self._commit_timeout_s
        try:
            if offsets:
                metadata = metadata or consumer.consumer_group_metadata()
                self._call(
                    "sending offsets to the transaction",
                    lambda timeout: self._producer.send_offsets_to_transaction(
                        offsets, metadata, timeout
                    ),
                    deadline=deadline,
                )
            self._call(
                "committing the transaction",
                self._producer.commit_transaction,
                deadline=deadline,
            )
        finally:
            self._open = False

    def abort(self) -> None:
        if self._open:
            self._call(
                "aborting the transaction",
                self._producer.abort_transaction,
                self._commit_timeout_s,
                abortable_is_error=True,
            )
            self._open = False
        self._refusal = None

    def close(self) -> None:
        if self._wedged:  # a helper thread is still inside the producer: leave it to that thread
            logger.warning("abandoning a producer stuck in a transactional call")
            return
        self._producer.purge()
        self._producer.flush(0)

    def _call(
        self,
        what: str,
        call: Callable[[float], object],
        timeout_s: float = 0.0,
        abortable_is_error: bool = False,
        deadline: float | None = None,
    ) -> None:
        """Run a transactional API call: retry retriable errors, classify the others.

        ``call`` gets the timeout to pass to librdkafka: ``timeout_s``, or what is left until
        ``deadline`` (a monotonic time), after which retriable errors are not retried (unless
        ``abortable_is_error``: initialising and aborting retry until the brokers answer).
        Anything but a fatal error ends in :class:`CommitAborted`: the caller then replaces
        the producer, whose successor aborts the open transaction when it initialises.
        """
        if deadline is None:
            deadline = time.monotonic() + timeout_s
        while True:
            timeout = timeout_s or max(deadline - time.monotonic(), 0.1)
            try:
                call_with_deadline(partial(call, timeout), timeout + _OVERDUE_GRACE_S, what)
                return
            except Overdue as exc:
                self._wedged = True
                raise ProducerWedged(f"{exc} (librdkafka #5456, #5511)") from exc
            except KafkaException as exc:
                self._classify(what, exc, abortable_is_error, time.monotonic() > deadline)
                logger.warning("%s: %s; retrying", what, exc)
                time.sleep(_RETRY_PAUSE_S)

    def _classify(
        self, what: str, exc: KafkaException, abortable_is_error: bool, late: bool
    ) -> None:
        """Raise unless ``exc`` is an error to retry (see :meth:`_call`).

        ``_FATAL`` is fatal too: librdkafka's answer to a call on a producer that already
        had a fatal error (e.g. ``produce`` after fencing), whose ``fatal()`` is false.
        """
        error = kafka_error(exc)
        if error is None or error.fatal() or error.code() == _FATAL:
            raise KafkaTransportError.from_kafka(f"{what} failed (fatal)", exc) from exc
        self._producer.poll(0)  # serves error_cb, which notes refused credentials
        self._check()
        if abortable_is_error and not error.retriable():
            raise KafkaTransportError.from_kafka(f"{what} failed", exc) from exc
        if error.txn_requires_abort() or not error.retriable() or (late and not abortable_is_error):
            raise CommitAborted.from_kafka(f"{what} failed", exc) from exc


def raise_if_refused_again(exc: KafkaException) -> None:
    """Raise :class:`KafkaTransportError` for a refusal in :data:`_REFUSED_AGAIN_ON_REPLAY`."""
    error = kafka_error(exc)
    if error is not None and error.code() in _REFUSED_AGAIN_ON_REPLAY:
        raise KafkaTransportError.from_kafka(
            "producing an output failed, and a replay would make the same output "
            "(check the topics' partitions and message size limits)",
            exc,
        ) from exc
