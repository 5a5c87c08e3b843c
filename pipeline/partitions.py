"""Which asset models belong to which partition, and moving them in and out with snapshots.

:class:`PartitionStates` keeps the service's view of its assignment: the partitions it owns,
the partition of every asset model it holds (in the processor's ``assets`` dict), the assets
changed since the last commit, and how to snapshot them or restore them from the state topic.
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from pipeline import compact_states
from pipeline.errors import KafkaTransportError, SnapshotRefused
from pipeline.metrics import ServiceMetrics
from pipeline.settings import Settings
from pipeline.state import SnapshotCodec, read_snapshots
from pipeline.state_copies import copy_or_leave, encode_or_leave
from pipeline.supervised.snapshots import SupervisedSnapshots

__all__ = ["PartitionStates", "SnapshotSink", "Taken"]
logger = logging.getLogger(__name__)

SnapshotSink = Callable[[str, int, bytes], None]
"""Where :meth:`PartitionStates.owe` sends each signed snapshot: ``(asset, partition, value)``."""

_RETRY_PAUSE_S = 1.0
_ENCODE_CHUNK = 32
"""Owed rows encoded together when there is time (:meth:`PartitionStates.take_some`): one
fleet indexing a chunk, and a round's budget overrun by at most ~0.2 ms."""


class Taken(NamedTuple):
    """A snapshot taken, not yet sealed: the state's pickle, or its compact body."""

    asset: str
    partition: int
    body: bytes
    compact: bool = False


class PartitionStates:
    """The assignment's asset models: bookkeeping, snapshots and restores.

    Parameters
    ----------
    settings
        Topics, state settings (HMAC key) and client properties.
    assets
        The processor's ``assets`` dict, updated in place on restore and drop.
    metrics
        Snapshot and restore metrics.
    check
        Raises when the broker refused the credentials (called between retries).
    supervised
        The supervised models' state, snapshotted with the asset models (default: off).
    """

    def __init__(
        self,
        settings: Settings,
        assets: dict[str, Any],
        metrics: ServiceMetrics,
        check: Callable[[], None] = lambda: None,
        supervised: SupervisedSnapshots | None = None,
    ) -> None:
        self.settings = settings
        self.assets = assets
        self.metrics = metrics
        self.supervised = supervised or SupervisedSnapshots(None)
        self.assigned: set[int] = set()
        self._check = check
        self._partition_of: dict[str, int] = {}
        self._touched: dict[str, int] = {}
        self._owed: dict[str, int] = {}
        self._unencoded: dict[str, int] = {}  # fleet rows owed a compact body
        self._shared: compact_states.Shared = {}
        self._copies: deque[tuple[str, int, Any]] = deque()
        self._taken: list[Taken] = []
        self._unsent: deque[Taken] = deque()  # encoded, to seal and send (owe with a send)
        self._send: SnapshotSink | None = None
        key = settings.state.hmac_key
        self.codec = (
            SnapshotCodec(key.get_secret_value().encode(), settings.state.max_snapshot_bytes)
            if key is not None
            else None
        )

    def touch(self, asset: str, partition: int) -> None:
        """Note that ``asset`` (of ``partition``) changed since the last commit."""
        self._touched[asset] = partition
        self._partition_of[asset] = partition

    def touch_all(self, touched: dict[str, int]) -> None:
        """:meth:`touch` of every ``asset: partition`` in ``touched``."""
        self._touched.update(touched)
        self._partition_of.update(touched)

    def clear_touched(self) -> None:
        """Forget what changed (after a commit, or when the changes were discarded)."""
        self._touched = {}
        self.supervised.clear_changed()

    def snapshots(self) -> list[tuple[str, int, bytes]]:
        """``(asset, partition, signed snapshot)`` of every asset changed since the commit."""
        return self.seal(self.pickled())

    def pickled(self) -> list[Taken]:
        """The taken snapshot (pickled or compact) of every asset changed since the commit.

        The part of a snapshot that reads the models: once it returned, the models may change
        and :meth:`seal` (sign; compress a large one) can run in another thread.
        """
        self.owe(copy=False)
        self.take_some(None)
        return self.taken()

    # --- a checkpoint's snapshots, taken as late as the models allow --------------------

    def owe(self, send: SnapshotSink | None = None, copy: bool = True) -> None:
        """Owe a snapshot of every asset changed since the commit, as they are now.

        The default detector's states (``state.compact_snapshots``) are encoded
        (:func:`~pipeline.state_copies.encode_or_leave`: a few µs an asset) before their
        assets' next readings (:meth:`take`) or when there is time (:meth:`take_some`, a
        chunk at a time), not all at once: encoding 1,000 assets' rows at a checkpoint held
        that round for 20-40 ms. With ``copy``, the other states are copied now
        (:func:`~pipeline.state_copies.copy_states`: ~5 µs an asset against ~56 µs to pickle
        one) and the copies pickled when there is time (:meth:`take_some`, a few each round),
        so a checkpoint does not stop the service for all of them at once. A state that
        cannot be copied is pickled before anything changes it (:meth:`take`: before its
        readings are processed) or when there is time. With supervision on (labels and
        machine type models change several assets at once) everything is pickled at once.

        With ``send``, a pickled snapshot is sealed as soon as it is taken and handed to
        ``send`` (``asset, partition, signed snapshot``: the service produces it into the open
        transaction) instead of being kept for :meth:`taken`. So is an encoded one that is
        sealed uncompressed (under ``compress_from``: ~11 µs of the GIL to sign and produce),
        when there is time (:meth:`take_some`, a few each round); the helper thread signing
        and producing such small bodies, the GIL passed between the two threads at every
        hash, and the consuming thread's rounds after a checkpoint slowed down several-fold.
        Encoded bodies that are compressed (~245 µs each, mostly in ``zlib``, which releases
        the GIL) are kept for :meth:`taken`: the commit seals and produces them, in the helper
        thread of a background commit.
        """
        self._owed, self._taken, self._send = dict(sorted(self._touched.items())), [], send
        self._copies, self._unsent = deque(), deque()
        self._unencoded, self._shared = {}, {}
        if self.codec is None:
            self._owed = {}
        elif self.supervised.supervisor is None:
            assets = self.assets  # an asset without a model has no snapshot
            owed = [(a, p, assets[a]) for a, p in self._owed.items() if a in assets]
            if self.settings.state.compact_snapshots:
                encodable = compact_states.encodable
                self._unencoded = {a: p for a, p, state in owed if encodable(state)}
                owed = [item for item in owed if item[0] not in self._unencoded]
            copies, left = copy_or_leave(owed) if copy else ([], owed)
            self._copies = deque(copies)
            self._owed = {asset: partition for asset, partition, _ in left}
        else:
            self.take_some(None)
            dumps = self.codec.dumps
            for key, models in self.supervised.shared():  # a machine type's: every partition
                pickled = dumps(models)
                for partition in sorted(self.assigned):
                    self._keep(key, partition, pickled)

    @property
    def owing(self) -> bool:
        """Whether owed snapshots are still to be taken from the live states (before their
        assets' next readings: :meth:`take`)."""
        return bool(self._owed or self._unencoded)

    def take(self, keys: Iterable[bytes | None]) -> None:
        """Take the owed snapshots of the assets keyed ``keys`` (all if a key is ``None``).

        Call before processing messages with those keys: a reading changes only the model of
        the asset it is keyed by (a key that differs from the reading's asset is a dead
        letter), and a message without a key may change any.
        """
        owed, unencoded = self._owed, self._unencoded
        if not (owed or unencoded):
            return
        encode: list[tuple[str, int]] = []
        for key in keys:
            if key is None:  # the live states only: the copies are safe from any reading
                for asset in list(owed):
                    self._take(asset, owed.pop(asset))
                encode.extend(unencoded.items())
                unencoded.clear()
                break
            asset = key.decode(errors="replace")
            partition = owed.pop(asset, None)
            if partition is not None:
                self._take(asset, partition)
            partition = unencoded.pop(asset, None)
            if partition is not None:
                encode.append((asset, partition))
        if encode:
            self._encode(encode)

    def take_some(self, count: int | None, budget_s: float | None = None) -> bool:
        """Take up to ``count`` (``None``: all) owed snapshots, and no more once ``budget_s``
        seconds went by (at least one is taken); whether none is owed now.

        The live states owed first (their assets' readings wait for them), then the rows to
        encode (up to :data:`_ENCODE_CHUNK` at a time), then the encoded snapshots to send,
        then the copies.
        """
        owed, unencoded, unsent, copies = self._owed, self._unencoded, self._unsent, self._copies
        until = None if budget_s is None else time.perf_counter() + budget_s
        left = math.inf if count is None else count
        while left > 0 and (owed or unencoded or unsent or copies):
            if owed:
                asset = next(iter(owed))
                self._take(asset, owed.pop(asset))
                left -= 1
            elif unencoded:
                chunk = list(itertools.islice(unencoded.items(), int(min(left, _ENCODE_CHUNK))))
                for asset, _ in chunk:
                    del unencoded[asset]
                self._encode(chunk)
                left -= len(chunk)
            elif unsent:
                self._keep(*unsent.popleft())
                left -= 1
            else:
                self._pickle(*copies.popleft())
                left -= 1
            if until is not None and time.perf_counter() >= until:
                break
        return not (owed or unencoded or unsent or copies)

    def _encode(self, owed: list[tuple[str, int]]) -> None:
        """Encode the owed rows' states (those that turn out not to be encodable are pickled
        now: their assets' readings come next). If the encoding fails, the checkpoint's other
        rows are owed as live states to pickle instead (one error logged a checkpoint)."""
        assets = self.assets
        states = [(a, p, assets[a]) for a, p in owed if a in assets]
        observe = self.metrics.snapshot_seconds.observe
        encoded, left = encode_or_leave(states, observe, self._shared)
        if left and not encoded:  # failed (or none encodable after all): pickle the rest
            self._owed.update(self._unencoded)
            self._unencoded.clear()
        assert self.codec is not None  # nothing is owed without one
        compresses, send = self.codec.compresses, self._send
        for asset, partition, body in encoded:
            taken = Taken(asset, partition, body, compact=True)
            small = send is not None and not compresses(len(body))
            (self._unsent if small else self._taken).append(taken)
        for asset, partition, state in left:
            self._pickle(asset, partition, state)

    def _take(self, asset: str, partition: int) -> None:
        state = self.assets.get(asset)
        if state is not None:
            self._pickle(asset, partition, self.supervised.bundle(asset, state))

    def _pickle(self, asset: str, partition: int, state: Any) -> None:
        if self.codec is not None:
            started = time.perf_counter()
            pickled = self.codec.dumps(state)
            self.metrics.snapshot_seconds.observe(time.perf_counter() - started)
            self._keep(asset, partition, pickled)

    def _keep(self, asset: str, partition: int, body: bytes, compact: bool = False) -> None:
        """A taken snapshot: sealed and sent at once (see :meth:`owe`), or kept."""
        taken = Taken(asset, partition, body, compact)
        if self._send is None:
            self._taken.append(taken)
        else:
            for sealed in self.seal([taken]):
                self._send(*sealed)

    def taken(self) -> list[Taken]:
        """The snapshots taken since :meth:`owe` (once nothing is owed), and forget them."""
        if self._owed or self._unencoded or self._unsent or self._copies:
            raise RuntimeError("snapshots are still owed")
        taken, self._taken = self._taken, []
        return taken

    def cancel(self) -> None:
        """Forget the owed and taken snapshots (the checkpoint was abandoned: those already
        sent go with its transaction, which the caller aborts)."""
        self._owed, self._taken, self._copies, self._unsent = {}, [], deque(), deque()
        self._unencoded, self._shared = {}, {}

    def seal(self, taken: list[Taken]) -> list[tuple[str, int, bytes]]:
        """``(asset, partition, signed snapshot)`` of the snapshots :meth:`taken`."""
        if self.codec is None:
            return []
        seal, observe = self.codec.seal, self.metrics.snapshot_bytes.observe
        result = []
        for asset, partition, body, compact in taken:
            value = seal(asset, body, compact=compact)
            observe(len(value))
            result.append((asset, partition, value))
        return result

    def drop(self, partitions: list[int]) -> None:
        """Forget the partitions, their asset models and the assets' per-asset series."""
        dropped = [a for a, p in self._partition_of.items() if p in partitions]
        for asset in dropped:
            self.assets.pop(asset, None)
            del self._partition_of[asset]
            self.supervised.drop(asset)
        self.metrics.forget_assets(dropped)
        self.assigned.difference_update(partitions)
        if not self.assigned:
            self.supervised.clear_shared()

    def restore(self, partitions: list[int]) -> None:
        """Own ``partitions`` and load their latest verified snapshots (retrying on errors)."""
        self.assigned.update(partitions)
        if self.codec is None or not partitions:
            return
        started = time.perf_counter()
        restored = self._read(partitions, self.codec)
        for partition, states in restored.items():
            for asset, state in states.items():
                state = self.supervised.unbundle(asset, state)
                if state is None:
                    continue  # a machine type's models, not an asset's
                self.assets[asset] = state
                self._partition_of[asset] = partition
                self.metrics.restores.inc()
                if state.policy.active is not None:
                    self.metrics.resume_alarm(state.policy.active)
        self.metrics.restore_seconds.observe(time.perf_counter() - started)
        count = sum(len(states) for states in restored.values())
        logger.info("restored %d asset models for partitions %s", count, partitions)

    def _read(self, partitions: list[int], codec: SnapshotCodec) -> dict[int, dict[str, Any]]:
        while True:
            try:
                return read_snapshots(
                    self.settings.client_config(),
                    self.settings.topics.state,
                    partitions,
                    codec,
                    self.settings.state.restore_timeout_s,
                    self._on_refused,
                )
            except KafkaTransportError as exc:
                self._check()
                logger.warning("could not read the state snapshots (%s); retrying", exc)
                time.sleep(_RETRY_PAUSE_S)

    def _on_refused(self, asset: str, partition: int, offset: int, exc: SnapshotRefused) -> None:
        self.metrics.snapshots_refused.inc()
        logger.error(
            "refused state snapshot of asset %r (%s partition %d offset %d): %s; "
            "the asset starts with a fresh model",
            asset,
            self.settings.topics.state,
            partition,
            offset,
            exc,
        )
