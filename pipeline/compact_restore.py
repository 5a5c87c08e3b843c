"""Compact snapshot bodies (:mod:`pipeline.compact_states`) back into asset states.

Only ever called on a body whose signature checked (:class:`~pipeline.state.SnapshotCodec`).
Decoding checks every field's type (typed msgspec structs), inflates compressed parts with a
limit, and rebuilds the per-reading detector from a one-row scratch fleet, as unpickling the
fleet row's record does (a ``zscore`` fleet's row: as unpickling its materialised
detector). A body this version cannot read raises (``ValueError``, or whatever an inner
pickle raises), which the codec turns into a refusal.
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
from pipeline.compact_states import (
    COMPACT,
    PICKLED,
    POLICY_FIELDS,
    VERSION,
    ZSCORE,
    CompactFleet,
    row_layout,
)
from pipeline.detectors.calibration import TailCalibrator
from pipeline.detectors.fleet_mahalanobis import MahalanobisFleet
from pipeline.detectors.fleet_zscore import ZScoreFleet
from pipeline.detectors.tail_window import TailWindow
from pipeline.processor import AssetState
from pipeline.settings import ModelSettings

__all__ = ["SHARED_LIMIT", "decode_state", "inflate"]

_SCRATCH: dict[bytes, CompactFleet] = {}
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


class _Pickled(msgspec.Struct, array_like=True, tag=PICKLED):
    """A post-processor or alert policy pickled inside the body: ``[0, pickle]``."""

    pickled: bytes


class _Post(msgspec.Struct, array_like=True, tag=COMPACT):
    """A :class:`TailCalibrator` (:func:`_post`)."""

    window: int
    min_count: int
    last: float | None
    count: int
    tail_window: int
    blocks: list[bytes]


class _Policy(msgspec.Struct, array_like=True, tag=COMPACT):
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
        post = _decode_post(fields.post)
        if type(fleet) is MahalanobisFleet:
            fleet._set_post(0, post)
            build, record = fleet.reduce_row(0)
            model = build(*record)
        elif post is None:  # a zscore row has no post-processor
            model = fleet.materialise(0)
        else:
            raise ValueError("a compact zscore state snapshot with a post-processor")
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


def _scratch(header: bytes) -> CompactFleet:
    fleet = _SCRATCH.get(header)
    if fleet is None:
        fields = _unshared(header)
        if not isinstance(fields, tuple) or len(fields) not in (4, 5):
            raise ValueError("a compact state snapshot's fleet header is not one")
        byteorder, channels, settings, layout, *kind = fields
        if not isinstance(settings, ModelSettings) or not isinstance(channels, tuple):
            raise ValueError("a compact state snapshot's fleet header is not one")
        if kind not in ([], [ZSCORE]):
            raise ValueError(f"a compact state snapshot of a {kind[0]!r} fleet")
        if byteorder != sys.byteorder:
            raise ValueError(f"a compact state snapshot written {byteorder}-endian")
        fleet = ZScoreFleet(channels, settings) if kind else MahalanobisFleet(channels, settings)
        if row_layout(fleet) != layout:
            raise ValueError("a compact state snapshot of another fleet row layout")
        fleet.new_row()
        if len(_SCRATCH) >= _CACHE_LIMIT:
            _SCRATCH.clear()
        _SCRATCH[header] = fleet
    return fleet


def _load_row(fleet: CompactFleet, row: bytes) -> None:
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
    decoded.__dict__.update(zip(POLICY_FIELDS, values, strict=True))
    return decoded
