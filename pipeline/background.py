"""A commit in a helper thread while the service goes on scoring; the outputs meanwhile held.

With ``serve.processing = "exactly_once"`` a commit (sign the snapshots, produce
them, send the offsets, commit the transaction) takes a few round trips to the broker, and a
transactional producer has one transaction open at a time: the outputs of the readings that
follow cannot be produced before it returned. Doing it in the consuming thread stops
scoring for that long, every commit interval, which was most of the event-to-score tail.

:class:`BackgroundCommit` runs that work in one helper thread. The service goes on consuming and
scoring; the outputs it makes meanwhile are *held* here, each with the time it was made as its
Kafka timestamp, and produced into the next transaction once the commit returned: a few batches'
worth at a time (:meth:`BackgroundCommit.take_held` with a limit), so the consuming thread never
stops for all of them at once, while outputs made meanwhile still queue behind them (per-key
order holds). What a checkpoint snapshots is still read in the consuming thread as it was at
the checkpoint, so exactly-once is unchanged: the default detector's states are encoded
(:mod:`pipeline.compact_states`, ``state.compact_snapshots``) before their assets' next readings or
a chunk a round, and sealed in later rounds (large, compressed bodies: in the helper thread); the
others are copied there (:mod:`pipeline.state_copies`) and the copies pickled (and sealed) in later
rounds (or, if they cannot be copied, pickled before their assets' next readings). Either
way the snapshots and offsets of transaction N are the state after its last
input, and the held outputs belong to transaction N + 1. If the commit fails, the caller drops
the held outputs with the rest of the uncommitted work and rewinds.

Examples
--------
>>> commits = BackgroundCommit(max_held=10)
>>> commits.begin()  # a checkpoint: outputs are held from now on
>>> commits.busy, commits.done
(True, False)
>>> commits.start(lambda: None)
>>> commits.hold("scores", b"a", b"{}", [], -1)
>>> commits.wait(), len(commits.take_held())
(None, 1)
>>> commits.busy
False
>>> commits.start(lambda: None)
>>> for value in (b"1", b"2", b"3"):
...     commits.hold("scores", b"a", value, [], -1)
>>> commits.wait(), [held.value for held in commits.take_held(2)]
(None, [b'1', b'2'])
>>> commits.hold_many("scores", [(b"a", b"4")], [])  # as hold, one after the other
>>> commits.busy, commits.committing  # still held: later outputs queue behind b"3"
(True, False)
>>> [held.value for held in commits.take_held()], commits.busy
([b'3', b'4'], False)
>>> commits.close()
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import NamedTuple

from pipeline.outputs import Headers

__all__ = ["BackgroundCommit", "HeldOutput"]


class HeldOutput(NamedTuple):
    """An output made while a commit was in flight (``timestamp``: ms, when it was made)."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: Headers | None
    partition: int
    timestamp: int


class BackgroundCommit:
    """At most one commit in flight, and the outputs held until it returned.

    Parameters
    ----------
    max_held
        Held outputs past which the caller should wait for the commit (:attr:`full`) rather
        than consume more: bounds the memory a slow commit (a broker outage) can take.
    """

    def __init__(self, max_held: int) -> None:
        self.max_held = max_held
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="linewatch-commit")
        self._future: Future[None] | None = None
        self._holding = False
        self._held: list[HeldOutput] = []

    @property
    def busy(self) -> bool:
        """Whether outputs are to be held: while a commit is under way (:attr:`committing`)
        and until every output held meanwhile was taken (they go out first, in order)."""
        return self._holding or bool(self._held)

    @property
    def committing(self) -> bool:
        """Whether a checkpoint is under way: from :meth:`begin` or :meth:`start` to
        :meth:`wait`."""
        return self._holding

    @property
    def done(self) -> bool:
        """Whether a commit was started and returned."""
        return self._future is not None and self._future.done()

    @property
    def full(self) -> bool:
        """Whether :attr:`max_held` outputs are held."""
        return len(self._held) >= self.max_held

    def begin(self) -> None:
        """Hold outputs from now on: a checkpoint began, its commit starts later."""
        self._holding = True

    def start(self, work: Callable[[], None]) -> None:
        """Run ``work`` (the commit) in the helper thread (holding outputs until :meth:`wait`)."""
        if self._future is not None:
            raise RuntimeError("a commit is already in flight")
        self._holding = True
        self._future = self._executor.submit(work)

    def hold(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Headers | None,
        partition: int,
    ) -> None:
        """Keep an output (same arguments as ``Outputs.produce``), stamped now."""
        stamp = int(time.time() * 1000)
        self._held.append(HeldOutput(topic, key, value, headers, partition, stamp))

    def hold_many(
        self, topic: str, records: Iterable[tuple[bytes | None, bytes]], headers: Headers | None
    ) -> None:
        """:meth:`hold` of each ``(key, value)`` record (the partitioner's), stamped now, once."""
        stamp, new = int(time.time() * 1000), tuple.__new__  # HeldOutput's, without its frame
        self._held += [
            new(HeldOutput, (topic, key, value, headers, -1, stamp)) for key, value in records
        ]

    def wait(self, timeout_s: float | None = None) -> BaseException | None:
        """Wait for the commit in flight; the error it raised, or ``None`` if it succeeded.

        Outputs are no longer held after it once those held so far are taken
        (:meth:`take_held`).
        """
        future, self._future, self._holding = self._future, None, False
        if future is None:
            return None
        return future.exception(timeout=timeout_s)

    def take_held(self, limit: int | None = None) -> list[HeldOutput]:
        """The ``limit`` oldest held outputs (``None``: all), oldest first (and forget them)."""
        held = self._held
        if limit is None or limit >= len(held):
            self._held = []
            return held
        taken = held[:limit]
        del held[:limit]
        return taken

    def close(self) -> None:
        """Stop the helper thread (a commit still in it is left to finish on its own)."""
        self._held = []
        self._executor.shutdown(wait=False)
