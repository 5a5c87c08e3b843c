"""The service's commit cycle: when to commit, the checkpoint's snapshots, the commit, its outcome.

Every commit interval (``serve.commit_interval_s`` or ``serve.commit_every`` messages) the
service snapshots the models of the assets it touched to the compacted state topic (in the
partition of the asset's readings) and commits them with the outputs and the consumer's
offsets: in one Kafka transaction with ``serve.processing = "exactly_once"``
(:mod:`pipeline.outputs`).

With a background commit (:func:`serve_background`) a checkpoint does not stop scoring: its
snapshots are *owed* as of the checkpoint (:meth:`PartitionStates.owe`). The default detector's
states are encoded in the compact form (:mod:`pipeline.compact_states`, a few µs an asset) before
their assets' next readings or a chunk a round, and signed and produced into the checkpoint's
transaction a few each round (bodies large enough to be compressed: by the commit, in the helper
thread); other states are copied there (:mod:`pipeline.state_copies`) and pickled a few each round
(a state that cannot be copied: before its asset's next readings at the latest), each signed and
produced as it is taken. The outputs made meanwhile are held (:mod:`pipeline.background`). Once
every snapshot is taken, the helper thread seals and produces the compressed ones, sends the offsets
and commits the transaction (calls that release the GIL), and :meth:`CommitCycle.settle` takes the
outcome. A ``False`` from :meth:`CommitCycle.checkpoint` or :meth:`CommitCycle.settle` means the
commit was aborted: the caller rewinds to the last commit.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import partial

from confluent_kafka import Consumer, TopicPartition

from pipeline.background import BackgroundCommit
from pipeline.metrics import ServiceMetrics
from pipeline.outputs import CommitAborted, Outputs
from pipeline.partitions import PartitionStates, Taken
from pipeline.positions import Positions
from pipeline.rounds import RoundTrace
from pipeline.settings import Settings

__all__ = ["CommitCycle", "serve_background"]
logger = logging.getLogger(__name__)

_HELD_PER_ROUND = 2
"""Batches' worth of held outputs produced after each consumed batch once a background
commit returned: twice what a batch makes, so the backlog shrinks by a batch a round
without a burst that would stop the consuming thread (all of them when none was consumed)."""


class CommitCycle:
    """Commits of the service's work; see the module docstring.

    Parameters
    ----------
    settings, metrics
        The service's.
    states, positions
        The assignment's asset models and the offsets to commit (shared with the service).
    commits
        Background commits and the outputs held during them (shared with the emitter).
    outputs, consumer
        The service's current producer and consumer (both may be replaced).
    renew_outputs
        Called after an aborted ``exactly_once`` commit: a new producer aborts the open
        transaction.
    """

    def __init__(
        self,
        settings: Settings,
        metrics: ServiceMetrics,
        states: PartitionStates,
        positions: Positions,
        commits: BackgroundCommit,
        outputs: Callable[[], Outputs],
        consumer: Callable[[], Consumer],
        renew_outputs: Callable[[], None],
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.pending = 0
        """Messages consumed since the last commit."""
        self.commits = commits
        self._states = states
        self._positions = positions
        self._outputs = outputs
        self._consumer = consumer
        self._renew_outputs = renew_outputs
        self._background = serve_background(settings)
        self._last = time.monotonic()
        self._debt: tuple[list[TopicPartition], object] | None = None
        """Offsets and group metadata of the checkpoint whose snapshots are being taken."""
        self._trace = RoundTrace(settings.serve.slow_round_ms)

    @property
    def taking(self) -> bool:
        """Whether a checkpoint's snapshots are still being taken (its commit not begun)."""
        return self._debt is not None

    def due(self) -> bool:
        """Whether a commit is due (and none is under way)."""
        if self.commits.busy:
            return False
        serve = self.settings.serve
        if self.pending >= serve.commit_every:
            return True
        return time.monotonic() - self._last >= serve.commit_interval_s

    def checkpoint(self, background: bool = False) -> bool:
        """Snapshot the touched assets and commit them with the outputs and offsets.

        Without ``background`` (or without ``serve_background``) the models are pickled now
        and the commit is made here. With it, the commit begins (see the module docstring)
        and ``True`` means begun. A checkpoint still under way is finished first. ``False``:
        aborted, the caller rewinds.
        """
        if not self.settle(wait=True):
            return False
        self._last = time.monotonic()
        if self.pending == 0:
            return True
        metadata = self._consumer().consumer_group_metadata()  # the commit must not call it
        offsets = self._positions.offsets()
        if background and self._background:
            try:  # with supervision every snapshot is taken, and produced, now
                self._states.owe(self._send_snapshot)
            except CommitAborted as exc:
                self._states.cancel()
                self._on_aborted(exc)
                self.discard_pending()
                return False
            self.discard_pending()
            self._debt = (offsets, metadata)
            self.commits.begin()
            self.take_snapshots(0)
            return True
        work = partial(self._commit, self._states.pickled(), offsets, metadata)
        self.discard_pending()
        try:
            work()
        except CommitAborted as exc:
            self._on_aborted(exc)
            return False
        self.metrics.commits.labels(outcome="committed").inc()
        return True

    def take_snapshots(self, count: int | None, budget_s: float | None = None) -> None:
        """Take ``count`` more owed snapshots (``None``: all) within ``budget_s`` (see
        ``PartitionStates.take_some``); once all are, start the commit.

        If a snapshot cannot be produced, the commit is started as one that failed with that
        error: :meth:`settle` then reports it, as for any aborted commit.
        """
        if self._debt is None:
            return
        try:
            if not self._states.take_some(count, budget_s):
                return
        except CommitAborted as exc:
            self._debt = None
            self._states.cancel()
            self.commits.start(partial(_fail, exc))
            return
        (offsets, metadata), self._debt = self._debt, None
        self.commits.start(partial(self._commit, self._states.taken(), offsets, metadata))

    def settle(self, wait: bool, drain: bool = False) -> bool:
        """Take the background commit's outcome once it returned (or ``wait`` for it).

        If it committed, the outputs held meanwhile go to the next transaction: all of them
        now, or with ``drain`` a few batches' worth (:data:`_HELD_PER_ROUND`) per call while
        the outputs made meanwhile queue behind them. If it was aborted they are dropped with
        the rest of the uncommitted work, and ``False`` tells the caller to rewind.
        """
        if wait:
            self.take_snapshots(None)
        commits = self.commits
        if not commits.busy:
            return True
        try:
            if commits.committing:
                if not (wait or commits.done):
                    return True
                error = commits.wait()
                if error is not None:
                    raise error
                self.metrics.commits.labels(outcome="committed").inc()
            limit = _HELD_PER_ROUND * self.settings.serve.batch_size if drain else None
            held = commits.take_held(None if wait else limit)
            if held:
                self._outputs().produce_all(held)
            return True
        except CommitAborted as exc:
            commits.take_held()
            self._on_aborted(exc)
            self.discard_pending()
            return False

    def drop(self) -> None:
        """Forget a checkpoint whose snapshots were still being taken (its work is replayed)."""
        if self._debt is not None:
            self._debt = None
            self.commits.wait()
        self.commits.take_held()
        self._states.cancel()

    def discard_pending(self) -> None:
        """Forget the work since the last commit (committed, or to be replayed)."""
        self._positions.discard()
        self.pending = 0
        self._states.clear_touched()

    def _send_snapshot(self, asset: str, partition: int, value: bytes) -> None:
        """Produce a signed snapshot into the open transaction (the checkpoint's)."""
        self._outputs().produce(self.settings.topics.state, asset.encode(), value, [], partition)

    def _commit(
        self, pickled: list[Taken], offsets: list[TopicPartition], metadata: object
    ) -> None:
        """Seal and produce the snapshots, then commit them with the outputs and offsets.

        May run in the helper thread: touches the producer, never the consumer. A background
        checkpoint's snapshots were produced as they were taken (``pickled`` is empty then):
        the helper thread only sends the offsets and commits.
        """
        topic, trace, outputs = self.settings.topics.state, self._trace, self._outputs()
        trace.start()
        sealed = self._states.seal(pickled)
        for asset, partition, value in sealed:
            outputs.produce(topic, asset.encode(), value, [], partition)
        trace.mark("snapshots")
        try:
            outputs.commit(offsets, self._consumer(), metadata)
        finally:
            trace.mark("commit")
            trace.note(snapshots=len(sealed))
            trace.end("slow commit")

    def _on_aborted(self, exc: CommitAborted) -> None:
        logger.warning("commit aborted (%s): replaying from the last commit", exc)
        self.metrics.commits.labels(outcome="aborted").inc()
        if self.settings.serve.processing == "exactly_once":
            self._renew_outputs()


def _fail(error: BaseException) -> None:
    raise error


def serve_background(settings: Settings) -> bool:
    """Whether commits run in the helper thread (``exactly_once`` with
    ``serve.background_commit``)."""
    serve = settings.serve
    return serve.processing == "exactly_once" and serve.background_commit
