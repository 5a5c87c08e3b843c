"""Per-asset model snapshots: pickle, compress if large, sign; verify before unpickling.

A snapshot is the value of a record keyed by the asset id on the compacted ``linewatch.state``
topic, in the partition of the asset's readings, so that it moves with the partition::

    b"LWS1" | HMAC-SHA256(key, b"LWS1" + asset + body) (32 bytes) | body = zlib(pickle(state))
    b"LWP1" | HMAC-SHA256(key, b"LWP1" + asset + body) (32 bytes) | body = pickle(state)
    b"LWC1" | HMAC-SHA256(key, b"LWC1" + asset + body) (32 bytes) | body = compact(state)
    b"LWD1" | HMAC-SHA256(key, b"LWD1" + asset + body) (32 bytes) | body = zlib(compact(state))

The second, plain form is written for pickles under ``compress_from`` bytes (16 KiB): the
default detector's are ~3 KB, which zlib shrank by only a quarter for most of the cost of
sealing (80 of 90 µs an asset, 1,000 assets every commit). The compact forms hold the default
detector's states as plain values (:mod:`pipeline.compact_states`: a few µs an asset to
write where pickling takes ~40); :meth:`SnapshotCodec.seal` is told which a body is
(``compact=True`` for a compact one). All four are read. The magic is
inside the MAC, so a body cannot be passed off as the other form; so is the asset id, so a
genuine snapshot cannot be replayed under another key. Nothing is unpickled unless its MAC
checks (:meth:`SnapshotCodec.decode` raises :class:`SnapshotRefused` first); a signed body
that this version cannot decode (a class renamed or gone, a module missing, another layout,
a field of another type) is refused too, so that its asset starts afresh rather than the
restore failing.

Examples
--------
>>> codec = SnapshotCodec(b"secret")
>>> value = codec.encode("press-1", {"n": 3})
>>> codec.decode("press-1", value)
{'n': 3}
>>> codec.seal("press-1", codec.dumps({"n": 3})) == value
True
>>> value[:4], SnapshotCodec(b"secret", compress_from=0).encode("press-1", {"n": 3})[:4]
(b'LWP1', b'LWS1')
>>> codec.decode("press-2", value)
Traceback (most recent call last):
...
pipeline.errors.SnapshotRefused: snapshot of asset 'press-2' has a bad signature ...
>>> SnapshotCodec(b"other").decode("press-1", value)
Traceback (most recent call last):
...
pipeline.errors.SnapshotRefused: snapshot of asset 'press-1' has a bad signature ...
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import pickle
import time
import zlib
from collections.abc import Callable
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from pipeline.compact_restore import decode_state, inflate
from pipeline.errors import ConfigError, KafkaTransportError, SnapshotRefused
from pipeline.state_ends import settled_ends, state_reader

__all__ = [
    "COMPACT_MAGIC",
    "MAGIC",
    "PACKED_MAGIC",
    "PLAIN_MAGIC",
    "INFLATE_FACTOR",
    "SnapshotCodec",
    "read_snapshots",
]
logger = logging.getLogger(__name__)

MAGIC = b"LWS1"
"""A snapshot whose body is the zlib-compressed pickle."""
PLAIN_MAGIC = b"LWP1"
"""A snapshot whose body is the pickle itself (small states)."""
COMPACT_MAGIC = b"LWC1"
"""A snapshot whose body is a compact state (:mod:`pipeline.compact_states`)."""
PACKED_MAGIC = b"LWD1"
"""A snapshot whose body is a zlib-compressed compact state."""
_MAGICS = frozenset({MAGIC, PLAIN_MAGIC, COMPACT_MAGIC, PACKED_MAGIC})
_PACKED = frozenset({MAGIC, PACKED_MAGIC})
INFLATE_FACTOR = 16
"""A compressed body inflating to more than this many times ``max_bytes`` is refused."""
_COMPACT = frozenset({COMPACT_MAGIC, PACKED_MAGIC})
_MAC_BYTES = hashlib.sha256().digest_size

RefusedListener = Callable[[str, int, int, SnapshotRefused], None]
"""Called with (asset, partition, offset, error) for every refused snapshot."""


class SnapshotCodec:
    """Encode and sign, verify and decode per-asset snapshots with one HMAC key.

    Parameters
    ----------
    key
        The HMAC-SHA256 key (``StateSettings.hmac_key``).
    max_bytes
        Largest encoded snapshot; a bigger one raises :class:`ConfigError` when encoded. A
        compressed body that would inflate to more than ``INFLATE_FACTOR`` (16) times it is
        refused when decoded, without inflating it further (a zlib bomb).
    compress_from
        Pickles of at least this many bytes are compressed (``MAGIC``), smaller ones are
        not (``PLAIN_MAGIC``).
    """

    def __init__(self, key: bytes, max_bytes: int = 1_000_000, compress_from: int = 16_384) -> None:
        if not key:
            raise ValueError("the snapshot HMAC key must not be empty")
        self._keyed = hmac.new(key, digestmod=hashlib.sha256)
        """The key's HMAC before any message (copied for each: saves hashing the key)."""
        self.max_bytes = max_bytes
        self.compress_from = compress_from

    def encode(self, asset: str, state: Any) -> bytes:
        """The signed snapshot of ``state``."""
        return self.seal(asset, self.dumps(state))

    @staticmethod
    def dumps(state: Any) -> bytes:
        """``state`` pickled: the part of :meth:`encode` that reads the state."""
        return pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)

    def seal(self, asset: str, body: bytes, *, compact: bool = False) -> bytes:
        """The signed snapshot of a pickled state (:meth:`dumps`) or, with ``compact``, of a
        compact one (:func:`~pipeline.compact_states.encode_states`): compress (if large, or
        if it would not fit ``max_bytes`` plain) and sign.

        Needs only the bytes, so it can run in another thread than the one that owns the
        state (``zlib`` and ``hmac`` release the GIL on buffers this size).
        """
        plain, packed = (COMPACT_MAGIC, PACKED_MAGIC) if compact else (PLAIN_MAGIC, MAGIC)
        if self.compresses(len(body)):
            magic, body = packed, zlib.compress(body, 1)
        else:
            magic = plain
        value = magic + self._mac(magic, asset, body) + body
        if len(value) > self.max_bytes:
            raise ConfigError(
                f"snapshot of asset {asset!r} is {len(value)} bytes, above the "
                f"{self.max_bytes}-byte limit: use a smaller model (model.n_trees, "
                "model.window_size) or raise state.max_snapshot_bytes together with the "
                "topic's and the producer's message size limits"
            )
        return value

    def compresses(self, size: int) -> bool:
        """Whether :meth:`seal` compresses a body of ``size`` bytes (from ``compress_from``,
        or if it would not fit ``max_bytes`` plain)."""
        overhead = len(PLAIN_MAGIC) + _MAC_BYTES
        return size >= min(self.compress_from, self.max_bytes - overhead + 1)

    def decode(self, asset: str, value: bytes | None) -> Any:
        """The state in ``value``; :class:`SnapshotRefused` unless its signature checks."""
        magic = value[: len(MAGIC)] if value is not None else b""
        if value is None or len(value) < len(MAGIC) + _MAC_BYTES or magic not in _MAGICS:
            raise SnapshotRefused(f"snapshot of asset {asset!r} is not a linewatch snapshot")
        mac = value[len(MAGIC) : len(MAGIC) + _MAC_BYTES]
        body = value[len(MAGIC) + _MAC_BYTES :]
        if not hmac.compare_digest(mac, self._mac(magic, asset, body)):
            raise SnapshotRefused(
                f"snapshot of asset {asset!r} has a bad signature "
                "(not signed with this key, or altered)"
            )
        try:
            if magic in _PACKED:
                body = inflate(body, INFLATE_FACTOR * self.max_bytes)
            if magic in _COMPACT:
                return decode_state(body)
            return pickle.loads(body)  # noqa: S301 - signature checked above
        except Exception as exc:  # signed, so written by another version (or a bug)
            raise SnapshotRefused(
                f"snapshot of asset {asset!r} cannot be read by this version: "
                f"{type(exc).__name__}: {exc}"
            ) from exc

    def _mac(self, magic: bytes, asset: str, body: bytes) -> bytes:
        mac = self._keyed.copy()
        mac.update(magic + asset.encode() + b"\0")
        mac.update(body)
        return mac.digest()


def read_snapshots(
    client_config: dict[str, str],
    topic: str,
    partitions: list[int],
    codec: SnapshotCodec,
    timeout_s: float,
    on_refused: RefusedListener,
) -> dict[int, dict[str, Any]]:
    """The latest verified state of every asset in ``partitions`` of the state ``topic``.

    Reads each partition from its start to its end (``read_committed``: snapshots of aborted
    transactions are skipped), once no transaction in it is unfinished
    (:func:`pipeline.state_ends.settled_ends`). Only the last record of an asset counts; a
    tombstone deletes it, and a snapshot whose signature fails is reported to ``on_refused``
    and not used (the asset then starts afresh). Raises :class:`KafkaTransportError` when the
    end is not reached in ``timeout_s``.
    """
    latest = _read_latest(client_config, topic, partitions, timeout_s)
    restored: dict[int, dict[str, Any]] = {partition: {} for partition in partitions}
    for (partition, asset), (offset, value) in latest.items():
        if value is None:
            continue
        try:
            restored[partition][asset] = codec.decode(asset, value)
        except SnapshotRefused as exc:
            on_refused(asset, partition, offset, exc)
    return restored


def _read_latest(
    client_config: dict[str, str], topic: str, partitions: list[int], timeout_s: float
) -> dict[tuple[int, str], tuple[int, bytes | None]]:
    consumer = state_reader(client_config)
    try:
        pending = settled_ends(consumer, client_config, topic, partitions, timeout_s)
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in pending])
        return _consume_to_end(consumer, pending, timeout_s)
    finally:
        consumer.close()


def _consume_to_end(
    consumer: Consumer, pending: set[int], timeout_s: float
) -> dict[tuple[int, str], tuple[int, bytes | None]]:
    latest: dict[tuple[int, str], tuple[int, bytes | None]] = {}
    deadline = time.monotonic() + timeout_s
    while pending:
        if time.monotonic() > deadline:
            raise KafkaTransportError(
                f"state partitions {sorted(pending)} were not read to their end in {timeout_s:g}s"
            )
        for message in consumer.consume(500, 0.5):
            error = message.error()
            partition = message.partition() or 0
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    pending.discard(partition)
                elif error.fatal():
                    raise KafkaTransportError(f"reading state: {error.str()}", error.code())
                continue
            key = (message.key() or b"").decode(errors="replace")
            latest[(partition, key)] = (message.offset() or 0, message.value())
    return latest
