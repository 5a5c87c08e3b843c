"""Copies of asset states taken at a checkpoint, to pickle a few at a time afterwards.

A checkpoint's snapshots must hold each asset's state as it was at the checkpoint. Pickling
all of them there (or, as before, each just before its asset's next reading, which at 1,000
assets comes within a batch or three) cost ~56 µs an asset in one burst: the service stopped
for 35-225 ms after every checkpoint. :func:`copy_states` instead copies the states at the
checkpoint, cheaply: a fleet's rows are gathered from its arrays in one indexing per array
(:class:`~pipeline.detectors.fleet_mahalanobis.MahalanobisFleet`, the default detector), and
the few small objects that change with every reading (the alert policy, the calibration
post-processor) are copied field by field. The copies are what gets pickled, a few each round
(:class:`~pipeline.partitions.PartitionStates`), while the live states go on changing.

A copy pickles to the same bytes the live state pickled to at the checkpoint (so restores give
the same scores; ``tests/pipeline/test_state_copies.py``). A state this module cannot copy (a
per-reading detector, another fleet, an object whose fields differ from those it knows) is
left out: the caller pickles it as before, before its asset's next reading.

Examples
--------
>>> import pickle
>>> from pipeline.settings import Settings
>>> from pipeline.processor import Processor
>>> processor = Processor(Settings.load(None))
>>> for ts in range(1, 40):
...     _ = processor.process(b'{"asset": "p", "ts": %d, "values": {"t": %d.5}}' % (ts, ts % 7))
>>> copies, left = copy_states([("p", 0, processor.assets["p"])])
>>> pickled = pickle.dumps(processor.assets["p"], protocol=pickle.HIGHEST_PROTOCOL)
>>> _ = processor.process(b'{"asset": "p", "ts": 99, "values": {"t": 9.5}}')
>>> left, pickle.dumps(copies[0][2], protocol=pickle.HIGHEST_PROTOCOL) == pickled
([], True)
"""

from __future__ import annotations

import logging
import time
from array import array
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from pipeline import compact_states
from pipeline.alerts import AlertPolicy
from pipeline.detectors.calibration import AnomalyLikelihood, TailCalibrator
from pipeline.detectors.fleet import FleetSlot, RowArrays
from pipeline.detectors.fleet_mahalanobis import MahalanobisFleet
from pipeline.detectors.tail_window import TailWindow
from pipeline.processor import AssetState

__all__ = ["copy_or_leave", "copy_states", "encode_or_leave"]
logger = logging.getLogger(__name__)

Owed = tuple[str, int, Any]
"""``(asset, partition, state)``."""


def encode_or_leave(
    owed: list[Owed],
    observe: Callable[[float], None],
    shared: compact_states.Shared | None = None,
) -> tuple[list[Owed], list[Owed]]:
    """The compact bodies of the ``owed`` states that have one
    (:func:`~pipeline.compact_states.encode_states`, with its ``shared``: all of the default
    detector's, a few µs an asset), and the states left to copy or pickle (all of them if
    the encoding fails: a bug there must not fail every checkpoint).

    ``observe`` (the ``snapshot_seconds`` histogram's) is called once per body with the
    encoding time over their number, so the histogram's count counts snapshots.
    """
    started = time.perf_counter()
    try:
        encoded, left = compact_states.encode_states(owed, shared)
    except Exception:
        logger.exception("encoding the states for a checkpoint failed; pickling them")
        return [], owed
    each = (time.perf_counter() - started) / max(len(encoded), 1)
    for _ in encoded:
        observe(each)
    return encoded, left


def copy_or_leave(owed: list[Owed]) -> tuple[list[Owed], list[Owed]]:
    """:func:`copy_states`, or no copies if copying fails (the live states are pickled then:
    a bug there must not fail every checkpoint)."""
    try:
        return copy_states(owed)
    except Exception:
        logger.exception("copying the states for a checkpoint failed; pickling them")
        return [], owed


def copy_states(owed: list[Owed]) -> tuple[list[Owed], list[Owed]]:
    """Copies of the ``owed`` states as they are now, and the states that cannot be copied.

    The copies (in ``owed`` order) share nothing that the live states change later.
    """
    copies: list[Owed] = []
    left: list[Owed] = []
    fleets: dict[int, tuple[MahalanobisFleet, list[int]]] = {}
    members: list[tuple[Owed, MahalanobisFleet, int]] = []
    for item in owed:
        found = compact_states.fleet_row(item[2])
        if found is None:
            left.append(item)
            continue
        fleet, row = found
        rows = fleets.setdefault(id(fleet), (fleet, []))[1]
        members.append((item, fleet, len(rows)))
        rows.append(row)
    shadows = {key: _gathered(fleet, rows) for key, (fleet, rows) in fleets.items()}
    for item, fleet, position in members:
        asset, partition, state = item
        copied = _copy_state(state, fleet, shadows[id(fleet)], position)
        if copied is None:
            left.append(item)
        else:
            copies.append((asset, partition, copied))
    return copies, left


def _gathered(fleet: MahalanobisFleet, rows: list[int]) -> MahalanobisFleet:
    """A stand-in for ``fleet`` holding copies of ``rows`` (row ``i`` is ``rows[i]``):
    what :meth:`MahalanobisFleet.reduce_row` reads, with the posts added per row."""
    shadow: MahalanobisFleet = _shallow(fleet)
    index = np.asarray(rows, dtype=np.intp)
    gathered: RowArrays = object.__new__(RowArrays)
    gathered.arrays = {name: array_[index] for name, array_ in fleet.rows.arrays.items()}
    gathered.capacity = len(rows)
    shadow.rows = gathered
    # its own posts, as objects: _copy_state sets them per row
    shadow.tails, shadow._posts, shadow._untailed = None, {}, set()
    return shadow


def _copy_state(
    state: AssetState, fleet: MahalanobisFleet, shadow: MahalanobisFleet, position: int
) -> AssetState | None:
    assert isinstance(state.model, FleetSlot)
    post = _copy_post(fleet.post(state.model.row))  # (one made from the arrays: copied again)
    policy = _copy_policy(state.policy)
    if post is None or policy is None:
        return None
    shadow._set_post(position, post)
    return AssetState(
        FleetSlot(shadow, position),
        policy,
        state.last_ts,
        state.last_seq,
        state.last_values,  # replaced by the next reading, never changed in place
    )


def _known(value: object, fields: frozenset[str]) -> bool:
    """Whether ``value``'s fields are exactly ``fields`` (a class that gained a field is
    pickled, not copied, until this module copies that field too)."""
    return value.__dict__.keys() == fields


def _shallow(value: Any) -> Any:
    """A new object of ``value``'s class with the same field values (in the same order)."""
    copied = object.__new__(type(value))
    copied.__dict__ = value.__dict__.copy()
    return copied


def _copy_policy(policy: AlertPolicy) -> AlertPolicy | None:
    """The alert policy's fields: numbers, its (frozen) settings and active alert, and the
    adaptive threshold's two containers, copied."""
    if type(policy) is not AlertPolicy or not _known(policy, _FIELDS[AlertPolicy]):
        return None
    copied: AlertPolicy = _shallow(policy)
    copied._recent = deque(policy._recent)
    copied._sorted = list(policy._sorted)
    return copied


def _copy_post(post: object) -> TailCalibrator | AnomalyLikelihood | None:
    kind = type(post)
    if kind is TailCalibrator and _known(post, _FIELDS[TailCalibrator]):
        assert isinstance(post, TailCalibrator)
        window = post._calibrator
        if type(window) is not TailWindow or not _known(window, _FIELDS[TailWindow]):
            return None
        tail: TailCalibrator = _shallow(post)
        tail._calibrator = _shallow(window)
        tail._calibrator._blocks = [array("H", block) for block in window._blocks]
        return tail
    if kind is AnomalyLikelihood and _known(post, _FIELDS[AnomalyLikelihood]):
        assert isinstance(post, AnomalyLikelihood)
        likelihood: AnomalyLikelihood = _shallow(post)
        likelihood._recent = deque(post._recent)
        likelihood._means = deque(post._means)
        return likelihood
    return None


_FIELDS: dict[type, frozenset[str]] = {
    AlertPolicy: frozenset(compact_states.POLICY_FIELDS),
    TailCalibrator: frozenset({"window", "min_count", "_calibrator", "_last", "_count"}),
    TailWindow: frozenset({"window", "block", "_blocks", "_count"}),
    AnomalyLikelihood: frozenset(
        {
            "short",
            "long",
            "min_count",
            "log_scale",
            "_recent",
            "_recent_sum",
            "_means",
            "_sum",
            "_sum_sq",
            "_last",
        }
    ),
}
"""The fields of each class copied here: numbers, strings, frozen settings and alerts (never
changed in place), and the containers that the copy functions copy."""
