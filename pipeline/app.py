"""The consumer service: poll, process, produce; commit outputs, snapshots and offsets together.

This is the only module that reads from the readings consumer. Every commit interval the
service snapshots the models of the assets it touched and commits them with the outputs and
the consumer's offsets (:mod:`pipeline.checkpoints`: in one Kafka transaction with
``serve.processing = "exactly_once"``, in a helper thread while scoring goes on).

Partitions move between instances of the consumer group with their state (eager
rebalancing): on revocation the service commits, then forgets the partitions' models; on
assignment it restores their latest verified snapshots (:mod:`pipeline.state`) before it
processes any of their readings. When a commit is aborted the service rewinds: it restores the
state of the last commit and seeks back to the committed offsets, so a replay produces the
same outputs. Commits that fail or hang (a broker outage) are given up after
``serve.commit_timeout_s`` with a new producer; a consumer that cannot read its committed
offsets in that time is replaced too, and the new member's assignment does the rewinding.
"""

from __future__ import annotations

import logging
import socket
import threading
import time

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

from pipeline.auth import AuthWatch
from pipeline.background import BackgroundCommit
from pipeline.checkpoints import CommitCycle
from pipeline.clients import consumer_config, make_outputs
from pipeline.collector import freeze_startup_heap, tune_collector
from pipeline.consumed import Consumed
from pipeline.deadline import Overdue, call_with_deadline
from pipeline.detectors.fleet_load import load_kernels
from pipeline.emit import AlertListener, Emitter
from pipeline.errors import KafkaTransportError
from pipeline.frozen import frozen_maker
from pipeline.labelgate import LabelGate
from pipeline.metrics import ServiceMetrics
from pipeline.outputs import CommitAborted
from pipeline.partitions import PartitionStates
from pipeline.positions import Positions
from pipeline.processor import Processor, Source
from pipeline.rounds import RoundTrace, oldest_age_ms
from pipeline.settings import Settings
from pipeline.supervised.snapshots import SupervisedSnapshots

__all__ = ["Service"]
logger = logging.getLogger(__name__)

_SNAPSHOT_BUDGET_S = 0.002
"""Seconds of owed snapshots (pickle, sign, produce: ~70 us each; sign and produce an encoded
one: ~11 us) taken each round, at least one; while some are owed the service does not wait
for readings (:meth:`Service._consume`), so an idle service takes them 2 ms at a time between
looks at the consumer."""
_MAX_HELD = 100
"""Batches' worth of outputs held during a background commit before the service waits for
it: several seconds at full speed (a commit takes well under one), bounded for an outage."""
_SOURCE = frozen_maker(Source, ["topic", "partition", "offset", "key"])


class Service:
    """Runs ``Processor`` over the readings topic until ``stop`` is set.

    ``ready`` is set while partitions are assigned and their state is restored;
    ``heartbeat`` is the monotonic time of the last poll (for ``/healthz``).
    """

    def __init__(
        self,
        settings: Settings,
        metrics: ServiceMetrics,
        on_alert: AlertListener | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.processor = Processor(settings)
        self.ready = threading.Event()
        self.heartbeat = time.monotonic()
        self._auth = AuthWatch()
        self._instance = settings.serve.instance_id or socket.gethostname()
        self._states = PartitionStates(
            settings,
            self.processor.assets,
            metrics,
            self._auth.check,
            SupervisedSnapshots(self.processor.supervisor),
        )
        self._positions = Positions(settings.topics)
        topics = settings.topics
        self._gate = LabelGate(topics.readings, topics.labels, settings.serve.commit_timeout_s)
        self._failed = False
        commits = BackgroundCommit(max_held=_MAX_HELD * settings.serve.batch_size)
        self._trace = RoundTrace(settings.serve.slow_round_ms)
        # the producer first: it fails fast on refused credentials
        self._outputs = make_outputs(settings, self._instance, self._auth)
        self._emitter = Emitter(
            settings.topics,
            self._outputs,
            commits,
            metrics,
            on_alert,
            max_value_bytes=settings.serve.max_message_bytes,
        )
        self._consumer = Consumer(consumer_config(settings, self._instance, self._auth))
        self._cycle = CommitCycle(
            settings,
            metrics,
            self._states,
            self._positions,
            commits,
            lambda: self._outputs,
            lambda: self._consumer,
            self._renew_outputs,
        )
        load_kernels(settings.model)
        tune_collector()
        freeze_startup_heap()

    def run(self, stop: threading.Event) -> None:
        """Consume, process and commit until ``stop`` is set; then commit and close."""
        if self._states.codec is None:
            logger.warning("no state.hmac_key: models are not snapshotted and restart afresh")
        self._subscribe()
        try:
            while not stop.is_set():
                self.heartbeat = time.monotonic()
                self._round()
            self._commit_or_rewind()
        except BaseException:
            self._failed = True
            raise
        finally:
            self._close()

    def _round(self) -> None:
        """Consume a batch and process it, take owed snapshots, settle and begin commits."""
        trace, cycle = self._trace, self._cycle
        trace.start()
        batch = self._consume()
        self._auth.check()
        if batch:
            trace.mark("poll")
            if trace.enabled:
                trace.note(batch=len(batch), oldest_age_ms=oldest_age_ms(batch))
            self._process_batch_or_rewind(batch)
            self._observe_supervision()
            trace.mark("batch")
        else:
            trace.start()  # waiting for readings is no stall
        cycle.take_snapshots(None, _SNAPSHOT_BUDGET_S)
        trace.mark("snapshots")
        self._gate.open(self._consumer, self._positions.labels_read)
        settled = cycle.settle(wait=cycle.commits.full, drain=bool(batch))
        trace.mark("settle")
        if not settled:
            self._rewind(sorted(self._states.assigned))
        elif cycle.due():
            self._commit_or_rewind(background=True)
            trace.mark("checkpoint")
        trace.end()

    def _consume(self) -> list[Message]:
        """Up to ``serve.batch_size`` messages: what the consumer holds, at once; if it holds
        none, the first to arrive in ``serve.poll_timeout_s`` and what came with it; if those
        are fewer than ``serve.batch_min``, what arrives in the ``serve.batch_wait_ms`` after
        them until there are that many (and what came with those).

        A service that is behind never waits (its batches are what is there); an idle one
        lets a trickling stream's batch fill for a few ms, which spreads a batch's fixed cost
        over more readings, but does not hold a batch that came whole (a fetch response of a
        batching producer's readings) for the next one. While a checkpoint's snapshots are
        being taken it does not wait at all (the round takes a few of them instead).
        """
        serve, consume = self.settings.serve, self._consumer.consume
        size, taking = serve.batch_size, self._cycle.taking
        batch = consume(size, 0)
        if batch:
            return batch
        batch = consume(1, 0.0 if taking else serve.poll_timeout_s)
        if not batch or size == 1:
            return batch
        batch += consume(size - 1, 0)
        floor = min(serve.batch_min, size)
        if len(batch) >= floor or taking or not serve.batch_wait_ms:
            return batch
        batch += consume(floor - len(batch), serve.batch_wait_ms / 1000.0)
        if len(batch) == floor < size:  # it filled: what came with the last of them too
            batch += consume(size - floor, 0)
        return batch

    def _process_batch_or_rewind(self, batch: list[Message]) -> None:
        try:
            self._process_batch(batch)
        except CommitAborted as exc:  # the open transaction is discarded: an aborted commit
            self.metrics.commits.labels(outcome="aborted").inc()
            logger.warning("outputs could not be queued (%s): replaying from the last commit", exc)
            self._renew_outputs()
            self._cycle.discard_pending()
            self._rewind(sorted(self._states.assigned))

    def _process_batch(self, batch: list[Message]) -> None:
        """Process the consumed batch (``Processor.process_batch``), then emit.

        The common batch, readings of assigned partitions and nothing else, goes as columns
        (:class:`~pipeline.consumed.Consumed`: no Source object per message). Otherwise labels
        (supervised failure prediction) go to the processor between the runs of readings
        around them, so every message is seen in the order it was consumed.
        """
        started = time.perf_counter()
        plain = None if self.processor.supervisor else self._plain(batch)
        if plain is not None:
            self._process_readings(plain)
        else:
            self._process_mixed(batch)
        self.metrics.observe_batch(
            time.perf_counter() - started, len(self.processor.assets), self._consumer
        )

    def _plain(self, batch: list[Message]) -> Consumed | None:
        """The batch as columns, if it holds only readings of assigned partitions (no errors)."""
        for message in batch:
            if message.error() is not None:  # (KafkaError == None raises: no list.count)
                return None
        consumed = Consumed.of_records(self.settings.topics.readings, batch)
        return consumed if self._states.assigned.issuperset(consumed.partitions) else None

    def _process_mixed(self, batch: list[Message]) -> None:
        """:meth:`_process_batch` of any batch: errors, revoked partitions, labels."""
        messages: list[tuple[bytes | None, Source]] = []
        assigned, topics = self._states.assigned, self.settings.topics
        readings_topic = topics.readings
        labels = topics.labels if self.processor.supervisor else None  # as in _topics()
        new_source = _SOURCE
        for message in batch:
            error = message.error()
            if error is not None:
                self._on_consume_error(error)
                continue
            partition = message.partition() or 0
            if partition not in assigned:
                continue  # revoked meanwhile: its new owner processes it
            if labels is not None and message.topic() == labels:
                self._process_readings(Consumed.of_pairs(messages))
                messages = []
                self._process_label(message, partition)
                continue
            source = new_source(readings_topic, partition, message.offset() or 0, message.key())
            messages.append((message.value(), source))
        self._process_readings(Consumed.of_pairs(messages))

    def _process_readings(self, messages: Consumed) -> None:
        if not messages:
            return
        trace = self._trace
        if self._states.owing:  # a checkpoint's: before the readings change the models
            self._states.take(messages.keys)
            trace.mark("owed")
        outcomes = self.processor.process_batch(messages)
        trace.mark("process")
        self._states.touch_all(self._emitter.batch(outcomes, messages))
        trace.mark("emit")
        self._take_released()
        self._positions.advance(messages, len(self._states.assigned))
        self._cycle.pending += len(messages)

    # --- the labels topic (supervised failure prediction) -------------------------------------

    def _topics(self) -> list[str]:
        topics = self.settings.topics
        return [topics.readings, topics.labels] if self.processor.supervisor else [topics.readings]

    def _process_label(self, message: Message, partition: int) -> None:
        """Hold the label until its partition's readings reach it (``Processor.hold_label``)."""
        source = Source(message.topic() or "", partition, message.offset() or 0, message.key())
        self.processor.hold_label(message.value(), source)
        self._positions.read_label(source)
        self._take_released()

    def _take_released(self) -> None:
        """Account for the labels applied or dead-lettered: their offsets commit next."""
        for source, letter in self.processor.take_released():
            if letter is not None:
                self.metrics.deadletters.labels(reason=letter.reason).inc()
                self._emitter.dead_letter(letter)
            elif source.key is not None:
                self._states.touch(source.key.decode(), source.partition)
            self._positions.release_label(source)
            self._cycle.pending += 1

    def _drop(self, partitions: list[int]) -> None:
        """Forget the partitions' state and held labels (both come back from the last commit)."""
        self._states.drop(partitions)
        self.processor.held.drop(partitions)
        self._gate.forget(partitions)
        self._positions.forget(partitions)

    def _observe_supervision(self) -> None:
        if self.processor.supervisor is not None:
            self.metrics.supervised.observe(self.processor.supervisor)

    # --- commits -------------------------------------------------------------------------

    def _commit_or_rewind(self, background: bool = False) -> None:
        if not self._cycle.checkpoint(background):
            self._rewind(sorted(self._states.assigned))

    def _rewind(self, partitions: list[int]) -> None:
        """Back to the last commit: its state, and its offsets."""
        self._cycle.drop()
        self._drop(partitions)
        parts = [TopicPartition(topic, p) for topic in self._topics() for p in partitions]
        committed = self._committed(parts)
        if committed is None:
            self._renew_consumer()  # its assignment restores the state of the last commit
            return
        self._states.restore(partitions)
        for part in committed:
            offset = part.offset if part.offset >= 0 else OFFSET_BEGINNING
            self._consumer.seek(TopicPartition(part.topic, part.partition, offset))
        self._labels_first(partitions)
        logger.info("rewound to the last commit", extra={"partitions": partitions})

    def _committed(self, partitions: list[TopicPartition]) -> list[TopicPartition] | None:
        """The committed offsets, or ``None`` if the group coordinator does not answer in time."""
        deadline = time.monotonic() + self.settings.serve.commit_timeout_s
        while True:
            remaining = deadline - time.monotonic()
            try:
                return list(self._consumer.committed(partitions, timeout=max(remaining, 1.0)))
            except KafkaException as exc:
                self._auth.check()
                if time.monotonic() >= deadline:
                    logger.warning("could not read the committed offsets (%s)", exc)
                    return None
                logger.warning("could not read the committed offsets (%s); retrying", exc)
                time.sleep(1.0)

    def _renew_outputs(self) -> None:
        """A new producer (same ``transactional.id``: it aborts the open transaction)."""
        logger.warning("replacing the producer: its open transaction is discarded")
        self._auth.brokers_down = False
        self._outputs.close()
        self._outputs = make_outputs(self.settings, self._instance, self._auth)
        self._emitter.outputs = self._outputs

    def _renew_consumer(self) -> None:
        """A new group member instead of one stuck without its group coordinator.

        Seen after a broker outage: ``committed()`` timed out for minutes. The old consumer is
        closed in a helper thread (abandoned if that blocks too); the new one's assignment
        restores the state and the offsets of the last commit.
        """
        logger.warning("replacing the consumer: it cannot reach its group coordinator")
        old, self._consumer = (
            self._consumer,
            Consumer(consumer_config(self.settings, self._instance, self._auth)),
        )
        self.ready.clear()
        self._cycle.discard_pending()
        self._drop(sorted(self._states.assigned))
        self._subscribe()
        try:
            call_with_deadline(old.close, self.settings.serve.commit_timeout_s, "closing")
        except Overdue:
            logger.warning("abandoning a consumer stuck in close")
        except KafkaException as exc:
            logger.warning("closing the replaced consumer failed: %s", exc)

    # --- rebalancing -----------------------------------------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if consumer is not self._consumer:
            return  # a replaced consumer, closing
        ids = sorted({part.partition for part in partitions})
        self._cycle.settle(wait=True)  # (eager rebalancing: everything was revoked before)
        self._states.restore(ids)
        if self.processor.supervisor is not None:
            consumer.assign(partitions)  # now, so that the readings can be paused
            self._labels_first(ids)
        self.ready.set()
        logger.info("partitions assigned", extra={"partitions": ids})

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if consumer is not self._consumer:
            return  # a replaced consumer, closing: its work was discarded
        self.ready.clear()
        ids = sorted({part.partition for part in partitions})
        if not self._failed:
            self._cycle.checkpoint()  # if aborted, the next owner replays from the last commit
        self._drop(ids)
        logger.info("partitions revoked", extra={"partitions": ids})

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if consumer is not self._consumer:
            return
        self.ready.clear()
        ids = sorted({part.partition for part in partitions})
        logger.warning("partitions lost, discarding uncommitted work", extra={"partitions": ids})
        self._cycle.settle(wait=True)
        self._cycle.discard_pending()
        try:
            self._outputs.abort()
        except CommitAborted as exc:  # e.g. the brokers are away, or the call is stuck
            logger.warning("abort after losing partitions failed (%s)", exc)
            self._renew_outputs()
        except KafkaTransportError as exc:
            logger.warning("abort after losing partitions failed: %s", exc)
        self._drop(ids)

    def _labels_first(self, partitions: list[int]) -> None:
        """Pause these readings until the labels already written are consumed (and held)."""
        if self.processor.supervisor is not None:
            self._gate.close(self._consumer, partitions)

    # --- clients ---------------------------------------------------------------------------

    def _subscribe(self) -> None:
        self._consumer.subscribe(
            self._topics(),
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        logger.info("consuming", extra={"topics": self._topics()})

    def _on_consume_error(self, error: KafkaError) -> None:
        if error.fatal():
            raise KafkaTransportError(f"fatal consumer error: {error.str()}", error.code())
        logger.warning("consumer error", extra={"error": error.str()})

    def _close(self) -> None:
        try:
            commits = self._cycle.commits
            if commits.busy:  # failed while a commit was in flight
                commits.wait()
            commits.close()
            if self._failed:
                self._outputs.abort()
        except KafkaTransportError as exc:
            logger.warning("abort on close failed: %s", exc)
        finally:
            try:
                self._consumer.close()
            finally:
                self._outputs.close()
                self.ready.clear()
        logger.info("stopped")
