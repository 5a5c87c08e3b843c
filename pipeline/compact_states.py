"""A compact snapshot body for the default detector's asset states, made for a whole checkpoint.

Pickling an :class:`~pipeline.processor.AssetState` of the default detector costs ~40 µs an
asset (the alert policy's settings, the calibration window, the frozen-sensor watch as
objects): 40 ms of the consuming thread for 1,000 assets every checkpoint, which is why it was
spread over rounds while the outputs of those rounds were held. :func:`encode_states` writes
the same states as plain values instead, a few µs an asset:

- the fleet row (:class:`~pipeline.detectors.fleet_mahalanobis.MahalanobisFleet`) as the bytes
  of its row in every array, gathered for all the checkpoint's rows in one indexing per array;
- what every row of a fleet shares (channels, model settings, array layout) and the alert
  settings, pickled once per checkpoint and repeated as bytes in each body;
- the calibration post-processor, the alert policy and the asset's last reading as numbers,
  lists and bytes (an object of a class or shape not known here is pickled inside the body).

The body is a msgpack array (``msgspec``: it keeps ints, floats, bytes and ``None`` apart)
that :func:`decode_state` turns back into the state that unpickling the pickled state gave:
the row goes into a one-row scratch fleet whose :meth:`~MahalanobisFleet.reduce_row` record
:func:`~pipeline.detectors.fleet_mahalanobis._rebuild` makes the per-reading detector from, as
unpickling does. :class:`~pipeline.state.SnapshotCodec` signs it like any snapshot, under
its own magic; nothing in it is decoded (or unpickled) before the signature checks. A state
that is not the default detector's in a fleet row is left to pickling (the second list).

Examples
--------
>>> import pickle
>>> from pipeline.settings import Settings
>>> from pipeline.processor import Processor
>>> processor = Processor(Settings.load(None))
>>> for ts in range(1, 40):
...     _ = processor.process(b'{"asset": "p", "ts": %d, "values": {"t": %d.5}}' % (ts, ts % 7))
>>> encoded, left = encode_states([("p", 0, processor.assets["p"])])
>>> left, encoded[0][2][:1] != b"\\x80"  # not a pickle
([], True)
>>> restored = decode_state(encoded[0][2])
>>> dumps = lambda state: pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
>>> unpickled = pickle.loads(dumps(processor.assets["p"]))  # what a pickled snapshot restores
>>> canonical = lambda state: dumps(pickle.loads(dumps(state)))  # (strings' identities aside)
>>> canonical(restored) == canonical(unpickled)
True
"""

from __future__ import annotations

import pickle
import sys
import threading
import zlib
from array import array
from collections import deque
from typing import Any

import msgspec
import numpy as np

from pipeline.alerts import AlertPolicy
from pipeline.detectors.calibration import TailCalibrator
from pipeline.detectors.fleet import FleetSlot
from pipeline.detectors.fleet_mahalanobis import MahalanobisFleet
from pipeline.detectors.tail_window import TailWindow
from pipeline.processor import AssetState
from pipeline.settings import ModelSettings

__all__ = ["SHARED_LIMIT", "VERSION", "decode_state", "encode_states", "inflate"]

VERSION = 1
"""The body's layout (its first element): a body of another version is refused."""

Owed = tuple[str, int, Any]
"""``(asset, partition, state)``; encoded: ``(asset, partition, body)``."""

_POLICY = (
    "asset",
    "settings",
    "seen",
    "active",
    "_anomalous_run",
    "_normal_run",
    "_run_first_ts",
    "_run_peak",
    "_recent",
    "_sorted",
)
_TAIL = ("window", "min_count", "_calibrator", "_last", "_count")
_PICKLED, _COMPACT = 0, 1
_encoder = msgspec.msgpack.Encoder()


def _dumps(value: object) -> bytes:
    return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


def _shared(value: object) -> bytes:
    """A value repeated in many bodies (the fleet's header, the alert settings): pickled and
    compressed once a checkpoint (to about half: every body is hashed when signed)."""
    return zlib.compress(_dumps(value), 9)


def encode_states(owed: list[Owed]) -> tuple[list[Owed], list[Owed]]:
    """The compact bodies of the ``owed`` states that are fleet rows of the default detector
    (in ``owed`` order), and the other states (to pickle)."""
    encoded: list[Owed] = []
    left: list[Owed] = []
    members: dict[int, tuple[MahalanobisFleet, list[Owed]]] = {}
    for item in owed:
        state = item[2]
        model = state.model if type(state) is AssetState else None
        if (
            type(model) is not FleetSlot
            or type(model.fleet) is not MahalanobisFleet
            or model.row < 0
        ):
            left.append(item)
            continue
        members.setdefault(id(model.fleet), (model.fleet, []))[1].append(item)
    shared: dict[int, bytes] = {}  # pickled alert settings by id
    for fleet, items in members.values():
        header = _shared((sys.byteorder, fleet.channels, fleet.settings, _layout(fleet)))
        rows = _row_bytes(fleet, [item[2].model.row for item in items])
        for (asset, partition, state), row in zip(items, rows, strict=True):
            post = _post(fleet.posts[state.model.row])
            policy = _policy(state.policy, shared)
            body = (VERSION, header, row, post, policy, state.last_ts, state.last_seq)
            encoded.append((asset, partition, _encoder.encode((*body, state.last_values))))
    return encoded, left


def _layout(fleet: MahalanobisFleet) -> tuple[tuple[str, str, tuple[int, ...]], ...]:
    return tuple((name, a.dtype.str, a.shape[1:]) for name, a in fleet.rows.arrays.items())


def _row_bytes(fleet: MahalanobisFleet, rows: list[int]) -> list[bytes]:
    """Each row's bytes in every array of ``fleet`` (in the arrays' order), one indexing per
    array for all ``rows``."""
    index = np.asarray(rows, dtype=np.intp)
    count = len(rows)
    parts = [
        np.ascontiguousarray(a[index]).reshape(count, -1).view(np.uint8)
        for a in fleet.rows.arrays.values()
    ]
    matrix = np.concatenate(parts, axis=1) if parts else np.zeros((count, 0), np.uint8)
    width, blob = matrix.shape[1], matrix.tobytes()
    return [blob[i * width : (i + 1) * width] for i in range(count)]


def _post(post: object) -> list[Any]:
    """A :class:`TailCalibrator` as numbers and its window's blocks as bytes; another
    post-processor (or one with other fields) pickled."""
    if type(post) is TailCalibrator and tuple(post.__dict__) == _TAIL:
        window = post._calibrator
        if type(window) is TailWindow:  # pickled as its window and blocks (__getstate__)
            blocks = [block.tobytes() for block in window._blocks]
            return [
                _COMPACT,
                post.window,
                post.min_count,
                post._last,
                post._count,
                window.window,
                blocks,
            ]
    return [_PICKLED, _dumps(post)]


def _policy(policy: AlertPolicy, shared: dict[int, bytes]) -> list[Any]:
    """The alert policy's fields (its settings and active alert pickled: the settings once a
    checkpoint); one of another class or shape pickled whole."""
    if type(policy) is not AlertPolicy or tuple(policy.__dict__) != _POLICY:
        return [_PICKLED, _dumps(policy)]
    recent = policy._recent
    if type(recent) is not deque or recent.maxlen is not None:
        return [_PICKLED, _dumps(policy)]
    settings = shared.get(id(policy.settings))
    if settings is None:
        settings = shared[id(policy.settings)] = _shared(policy.settings)
    active = None if policy.active is None else _dumps(policy.active)
    return [
        _COMPACT,
        policy.asset,
        settings,
        policy.seen,
        active,
        policy._anomalous_run,
        policy._normal_run,
        policy._run_first_ts,
        policy._run_peak,
        list(recent),
        policy._sorted,
    ]


# --- decoding: only ever called on a body whose signature checked ---------------------------

_SCRATCH: dict[bytes, MahalanobisFleet] = {}
"""One-row fleets by header (a process restores states of one or two model settings): every
decode overwrites the row, so it is used under :data:`_SCRATCH_LOCK` only."""
_SCRATCH_LOCK = threading.Lock()
"""Held from loading a row into a scratch fleet to the detector built from it, and while the
caches change: decodes in several threads of a process do not mix rows."""
_UNPICKLED: dict[bytes, Any] = {}
"""Shared values (alert settings) by their pickle."""
_CACHE_LIMIT = 64
SHARED_LIMIT = 1 << 20
"""Most bytes a shared value (a fleet header, alert settings: ~1-2 KB) may inflate to."""


def inflate(data: bytes, limit: int) -> bytes:
    """``data`` decompressed (zlib); :class:`ValueError` if it would be more than ``limit``
    bytes (a bomb is never inflated past it) or is not a whole zlib stream.

    >>> inflate(zlib.compress(b"x" * 100), 100) == b"x" * 100
    True
    >>> inflate(zlib.compress(b"x" * 101), 100)
    Traceback (most recent call last):
    ...
    ValueError: a compressed snapshot body inflates to more than 100 bytes
    """
    inflater = zlib.decompressobj()
    out = inflater.decompress(data, limit + 1)
    if len(out) > limit:
        raise ValueError(f"a compressed snapshot body inflates to more than {limit} bytes")
    if not inflater.eof or inflater.unused_data:
        raise ValueError("a compressed snapshot body is not one whole zlib stream")
    return out


class _Pickled(msgspec.Struct, array_like=True, tag=_PICKLED):
    """A post-processor or alert policy pickled inside the body: ``[0, pickle]``."""

    pickled: bytes


class _Post(msgspec.Struct, array_like=True, tag=_COMPACT):
    """A :class:`TailCalibrator` (:func:`_post`)."""

    window: int
    min_count: int
    last: float | None
    count: int
    tail_window: int
    blocks: list[bytes]


class _Policy(msgspec.Struct, array_like=True, tag=_COMPACT):
    """An :class:`AlertPolicy` (:func:`_policy`)."""

    asset: str
    settings: bytes
    seen: int
    active: bytes | None
    anomalous_run: int
    normal_run: int
    run_first_ts: int
    run_peak: float
    recent: list[float]
    ranked: list[float]


class _Body(msgspec.Struct, array_like=True):
    """A compact body as :func:`encode_states` writes it: decoding checks every field's type,
    so a body of another shape is refused at restore, not a crash later when scoring."""

    version: int
    header: bytes
    row: bytes
    post: _Pickled | _Post
    policy: _Pickled | _Policy
    last_ts: int
    last_seq: int | None
    last_values: dict[str, float]


_decoder = msgspec.msgpack.Decoder(_Body)


def decode_state(body: bytes) -> AssetState:
    """The state a compact ``body`` holds; :class:`ValueError` if it is not one this version
    reads (other exceptions, e.g. of a shared pickle naming a class this version lacks, are
    refused by :meth:`~pipeline.state.SnapshotCodec.decode` too)."""
    try:
        fields = _decoder.decode(body)
    except msgspec.DecodeError as exc:  # also a ValidationError: a field of another type
        raise ValueError(f"not a compact state snapshot: {exc}") from exc
    if fields.version != VERSION:
        raise ValueError("not a compact state snapshot of this version")
    with _SCRATCH_LOCK:
        fleet = _scratch(fields.header)
        _load_row(fleet, fields.row)
        fleet._set_post(0, _decode_post(fields.post))
        build, record = fleet.reduce_row(0)
        model = build(*record)
        policy = _decode_policy(fields.policy)
    return AssetState(model, policy, fields.last_ts, fields.last_seq, fields.last_values)


def _unshared(value: bytes) -> Any:
    return pickle.loads(inflate(value, SHARED_LIMIT))  # noqa: S301 - inside a checked signature


def _cached(cache: dict[bytes, Any], key: bytes) -> Any:
    value = cache.get(key)
    if value is None:
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()
        value = cache[key] = _unshared(key)
    return value


def _scratch(header: bytes) -> MahalanobisFleet:
    fleet = _SCRATCH.get(header)
    if fleet is None:
        byteorder, channels, settings, layout = _unshared(header)
        if not isinstance(settings, ModelSettings) or not isinstance(channels, tuple):
            raise ValueError("a compact state snapshot's fleet header is not one")
        if byteorder != sys.byteorder:
            raise ValueError(f"a compact state snapshot written {byteorder}-endian")
        fleet = MahalanobisFleet(channels, settings)
        if _layout(fleet) != layout:
            raise ValueError("a compact state snapshot of another fleet row layout")
        fleet.new_row()
        if len(_SCRATCH) >= _CACHE_LIMIT:
            _SCRATCH.clear()
        _SCRATCH[header] = fleet
    return fleet


def _load_row(fleet: MahalanobisFleet, row: bytes) -> None:
    offset = 0
    for a in fleet.rows.arrays.values():
        size = a[0].nbytes
        if offset + size > len(row):
            raise ValueError("a compact state snapshot's row is too short")
        a[0] = np.frombuffer(row, dtype=a.dtype, count=a[0].size, offset=offset).reshape(
            a.shape[1:]
        )
        offset += size
    if offset != len(row):
        raise ValueError("a compact state snapshot's row is too long")


def _decode_post(post: _Pickled | _Post) -> Any:
    if isinstance(post, _Pickled):
        return pickle.loads(post.pickled)  # noqa: S301 - inside a checked signature
    tail: TailWindow = object.__new__(TailWindow)  # as unpickling makes it
    tail.__setstate__((post.tail_window, [array("H", block) for block in post.blocks]))
    calibrator: TailCalibrator = object.__new__(TailCalibrator)
    calibrator.window, calibrator.min_count = post.window, post.min_count
    calibrator._calibrator, calibrator._last, calibrator._count = tail, post.last, post.count
    return calibrator


def _decode_policy(policy: _Pickled | _Policy) -> AlertPolicy:
    if isinstance(policy, _Pickled):
        restored: AlertPolicy = pickle.loads(policy.pickled)  # noqa: S301 - checked signature
        if not isinstance(restored, AlertPolicy):
            raise ValueError("a compact state snapshot's alert policy is not one")
        return restored
    decoded: AlertPolicy = object.__new__(AlertPolicy)
    active = None if policy.active is None else pickle.loads(policy.active)  # noqa: S301
    values = (
        policy.asset,
        _cached(_UNPICKLED, policy.settings),
        policy.seen,
        active,
        policy.anomalous_run,
        policy.normal_run,
        policy.run_first_ts,
        policy.run_peak,
        deque(policy.recent),
        policy.ranked,
    )
    decoded.__dict__.update(zip(_POLICY, values, strict=True))
    return decoded
