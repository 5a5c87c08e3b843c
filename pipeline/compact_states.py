"""A compact snapshot body for fleet-scored asset states, made for a whole checkpoint.

Pickling an :class:`~pipeline.processor.AssetState` of the default detector costs ~40 µs an
asset (the alert policy's settings, the calibration window, the frozen-sensor watch as
objects): 40 ms of the consuming thread for 1,000 assets every checkpoint, which is why it was
spread over rounds while the outputs of those rounds were held. :func:`encode_states` writes
the same states as plain values instead, a few µs an asset:

- the fleet row (:class:`~pipeline.detectors.fleet_mahalanobis.MahalanobisFleet`, or the
  ``zscore`` detector's :class:`~pipeline.detectors.fleet_zscore.ZScoreFleet`) as the bytes of
  its row in every array, gathered for all the checkpoint's rows in one indexing per array;
- what every row of a fleet shares (channels, model settings, array layout) and the alert
  settings, pickled once per checkpoint and repeated as bytes in each body;
- the calibration post-processor, the alert policy and the asset's last reading as numbers,
  lists and bytes (an object of a class or shape not known here is pickled inside the body;
  a ``zscore`` row has no post-processor: ``None``, pickled).

A ``zscore`` fleet's header names its kind (a fifth element); the default detector's header
is as it was, so its bodies are the bytes they were.

The body is a msgpack array (``msgspec``: it keeps ints, floats, bytes and ``None`` apart)
that :func:`~pipeline.compact_restore.decode_state` turns back into the state that unpickling
the pickled state gave: the row goes into a one-row scratch fleet whose
:meth:`~MahalanobisFleet.reduce_row` record
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
>>> from pipeline.compact_restore import decode_state
>>> restored = decode_state(encoded[0][2])
>>> dumps = lambda state: pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
>>> unpickled = pickle.loads(dumps(processor.assets["p"]))  # what a pickled snapshot restores
>>> canonical = lambda state: dumps(pickle.loads(dumps(state)))  # (strings' identities aside)
>>> canonical(restored) == canonical(unpickled)
True
"""

from __future__ import annotations

import math
import pickle
import sys
import zlib
from collections import deque
from typing import Any

import msgspec
import numpy as np

from pipeline.alerts import AlertPolicy
from pipeline.detectors.calibration import TailCalibrator
from pipeline.detectors.fleet import FleetSlot
from pipeline.detectors.fleet_mahalanobis import MahalanobisFleet
from pipeline.detectors.fleet_zscore import ZScoreFleet
from pipeline.detectors.tail_window import TailWindow
from pipeline.processor import AssetState

__all__ = [
    "COMPACT",
    "PICKLED",
    "POLICY_FIELDS",
    "VERSION",
    "ZSCORE",
    "Shared",
    "encodable",
    "encode_states",
    "fleet_row",
    "row_layout",
]

VERSION = 1
"""The body's layout (its first element): a body of another version is refused."""

Owed = tuple[str, int, Any]
"""``(asset, partition, state)``; encoded: ``(asset, partition, body)``."""

Shared = dict[int, tuple[Any, bytes]]
"""A checkpoint's values repeated in many bodies (fleet headers, alert settings), pickled
once: by the ``id`` of their owner, the value and its bytes (a value that changed, or an
``id`` reused, is pickled again)."""

POLICY_FIELDS = (
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
PICKLED, COMPACT = 0, 1
ZSCORE = "zscore"
"""The fifth element of a ``zscore`` fleet's header (the default detector's has four)."""
_encoder = msgspec.msgpack.Encoder()
CompactFleet = MahalanobisFleet | ZScoreFleet


def _dumps(value: object) -> bytes:
    return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


def _shared(value: object) -> bytes:
    """A value repeated in many bodies (the fleet's header, the alert settings): pickled and
    compressed once a checkpoint (to about half: every body is hashed when signed)."""
    return zlib.compress(_dumps(value), 9)


def fleet_row(state: object) -> tuple[MahalanobisFleet, int] | None:
    """The default detector's fleet and live row that ``state`` (an asset's state) scores
    with, if any: what state copies take from the fleet's arrays."""
    found = _compact_row(state)
    if found is None or type(found[0]) is not MahalanobisFleet:
        return None
    return found[0], found[1]


def encodable(state: object) -> bool:
    """Whether :func:`encode_states` writes ``state`` as a compact body (else it is pickled)."""
    return _compact_row(state) is not None


def _compact_row(state: object) -> tuple[CompactFleet, int] | None:
    """The fleet (the default detector's or ``zscore``'s) and live row that ``state`` scores
    with, if any: the rows compact snapshots encode."""
    model = state.model if type(state) is AssetState else None
    if type(model) is not FleetSlot or model.row < 0:
        return None
    fleet = model.fleet
    if type(fleet) is not MahalanobisFleet and type(fleet) is not ZScoreFleet:
        return None
    return fleet, model.row


def encode_states(owed: list[Owed], shared: Shared | None = None) -> tuple[list[Owed], list[Owed]]:
    """The compact bodies of the ``owed`` states that are fleet rows of the default detector
    or of ``zscore`` (in ``owed`` order), and the other states (to pickle).

    ``shared`` keeps the values repeated in many bodies between calls: a checkpoint's states
    encoded a few at a time pickle them once, as if encoded at once.
    """
    shared = {} if shared is None else shared
    encoded: list[Owed] = []
    left: list[Owed] = []
    members: dict[int, tuple[CompactFleet, list[Owed]]] = {}
    for item in owed:
        found = _compact_row(item[2])
        if found is None:
            left.append(item)
            continue
        members.setdefault(id(found[0]), (found[0], []))[1].append(item)
    no_post = [PICKLED, _dumps(None)]
    for fleet, items in members.values():
        header = _shared_once(shared, fleet, _header(fleet))
        rows = _row_bytes(fleet, [item[2].model.row for item in items])
        post_of = fleet.post if type(fleet) is MahalanobisFleet else None
        for (asset, partition, state), row in zip(items, rows, strict=True):
            post = no_post if post_of is None else _post(post_of(state.model.row))
            policy = _policy(state.policy, shared)
            body = (VERSION, header, row, post, policy, state.last_ts, state.last_seq)
            encoded.append((asset, partition, _encoder.encode((*body, state.last_values))))
    return encoded, left


def _shared_once(shared: Shared, owner: object, value: object) -> bytes:
    """:func:`_shared` of ``value`` (``owner``'s), pickled once while ``owner`` keeps it."""
    known = shared.get(id(owner))
    if known is not None and (known[0] is value or known[0] == value):
        return known[1]
    pickled = _shared(value)
    shared[id(owner)] = (value, pickled)
    return pickled


def _header(fleet: CompactFleet) -> tuple[Any, ...]:
    """What every row of ``fleet`` shares: byte order, channels, model settings, row layout
    (and, for a ``zscore`` fleet, its kind)."""
    header = (sys.byteorder, fleet.channels, fleet.settings, row_layout(fleet))
    return header if type(fleet) is MahalanobisFleet else (*header, ZSCORE)


def row_layout(fleet: CompactFleet) -> tuple[tuple[str, str, tuple[int, ...]], ...]:
    return tuple((name, a.dtype.str, a.shape[1:]) for name, a in fleet.rows.arrays.items())


def _row_bytes(fleet: CompactFleet, rows: list[int]) -> list[bytes]:
    """Each row's bytes in every array of ``fleet`` (in the arrays' order), one indexing per
    array for all ``rows``, written into one matrix (0.6 ms for 1,000 rows of the default
    detector; concatenating the arrays' rows and slicing a copy of it took 4-5 ms)."""
    index = np.asarray(rows, dtype=np.intp)
    count = len(rows)
    arrays = list(fleet.rows.arrays.values())
    widths = [a.itemsize * math.prod(a.shape[1:]) for a in arrays]  # bytes in a row
    matrix = np.empty((count, sum(widths)), np.uint8)
    at = 0
    for array, width in zip(arrays, widths, strict=True):
        matrix[:, at : at + width] = array[index].reshape(count, -1).view(np.uint8)
        at += width
    return [row.tobytes() for row in matrix]


def _post(post: object) -> list[Any]:
    """A :class:`TailCalibrator` as numbers and its window's blocks as bytes; another
    post-processor (or one with other fields) pickled."""
    if type(post) is TailCalibrator and tuple(post.__dict__) == _TAIL:
        window = post._calibrator
        if type(window) is TailWindow:  # pickled as its window and blocks (__getstate__)
            blocks = [block.tobytes() for block in window._blocks]
            return [
                COMPACT,
                post.window,
                post.min_count,
                post._last,
                post._count,
                window.window,
                blocks,
            ]
    return [PICKLED, _dumps(post)]


def _policy(policy: AlertPolicy, shared: Shared) -> list[Any]:
    """The alert policy's fields (its settings and active alert pickled: the settings once a
    checkpoint); one of another class or shape pickled whole."""
    if type(policy) is not AlertPolicy or tuple(policy.__dict__) != POLICY_FIELDS:
        return [PICKLED, _dumps(policy)]
    recent = policy._recent
    if type(recent) is not deque or recent.maxlen is not None:
        return [PICKLED, _dumps(policy)]
    settings = _shared_once(shared, policy.settings, policy.settings)
    active = None if policy.active is None else _dumps(policy.active)
    return [
        COMPACT,
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
