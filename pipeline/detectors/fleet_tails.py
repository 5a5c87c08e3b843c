"""A fleet's calibration windows in arrays: every row's :class:`TailCalibrator`, compiled.

A :class:`~pipeline.detectors.tail_window.TailWindow` is a list of at most
:data:`~pipeline.detectors.tail_window.BLOCKS` sorted blocks of 2-byte codes. Here row ``r``
keeps them as a ring of ``BLOCKS`` slots in one ``uint16`` array (``codes[r, slot, :length]``,
the oldest block at ``start[r]``), with the window's count, the calibrator's learned count
and its last raw score beside them. A round's tail probabilities and its learning are one
compiled loop each (numba) doing what ``TailCalibrator.score_coded`` and ``learn_coded`` do,
in the same order, so a row gives the same probabilities as its calibrator object;
:meth:`TailRows.post` makes that object again (for snapshots) and :meth:`TailRows.load`
takes one in (``tests/pipeline/test_fleet_tails.py``).

The slots grow with the longest block (doubling, up to a block's size), so windows that
hold few scores take little memory; full windows take two bytes a score, as the objects do.
"""

from __future__ import annotations

from array import array
from typing import Any, TypeGuard

import numpy as np

from pipeline.detectors.calibration import TailCalibrator
from pipeline.detectors.fleet_math import Array
from pipeline.detectors.jit import jit
from pipeline.detectors.tail_window import BLOCKS, TailWindow, code_array

__all__ = ["TailRows"]

_FIRST_SLOTS = 16
"""Codes a slot holds at first (then doubled as blocks grow, up to a block's size)."""

_ARRAYS = ("codes", "lengths", "start", "blocks", "count", "learned", "last", "scored")
"""The :class:`TailRows` arrays, one row per fleet row."""


@jit
def _bisect_left(codes: Any, length: int, value: int) -> int:  # pragma: no cover - compiled
    low, high = 0, length
    while low < high:
        middle = (low + high) // 2
        if codes[middle] < value:
            low = middle + 1
        else:
            high = middle
    return low


@jit
def _score(  # pragma: no cover - compiled
    rows: Any,
    coded: Any,
    raws: Any,
    codes: Any,
    lengths: Any,
    start: Any,
    blocks: Any,
    count: Any,
    learned: Any,
    last: Any,
    scored: Any,
    min_count: int,
) -> tuple[Any, Any]:
    """Each row's tail probability of its code, and the code's place in the newest block."""
    k = rows.shape[0]
    slots = lengths.shape[1]
    probabilities = np.zeros(k)
    places = np.zeros(k, dtype=np.int64)
    for i in range(k):
        row, value = rows[i], coded[i]
        last[row] = raws[i]
        scored[row] = True
        held = blocks[row]
        below = 0
        if held:
            newest = (start[row] + held - 1) % slots
            below = _bisect_left(codes[row, newest], lengths[row, newest], value)
        places[i] = below
        if learned[row] < min_count or count[row] == 0:
            continue
        for b in range(held - 1):
            slot = (start[row] + b) % slots
            below += _bisect_left(codes[row, slot], lengths[row, slot], value)
        probabilities[i] = below / count[row]
    return probabilities, places


@jit
def _learn(  # pragma: no cover - compiled
    rows: Any,
    coded: Any,
    places: Any,
    taught: Any,
    codes: Any,
    lengths: Any,
    start: Any,
    blocks: Any,
    count: Any,
    learned: Any,
    scored: Any,
    window: int,
    block: int,
) -> int:
    """Learn the code of each taught row's last score (at its place in the newest block, or
    as a new block); the longest block after."""
    slots = lengths.shape[1]
    longest = 0
    for i in range(rows.shape[0]):
        row = rows[i]
        if not taught[i] or not scored[row]:
            continue
        if count[row] >= window:  # a full window drops its oldest block
            oldest = start[row]
            count[row] -= lengths[row, oldest]
            lengths[row, oldest] = 0
            start[row] = (oldest + 1) % slots
            blocks[row] -= 1
        newest = (start[row] + blocks[row] - 1) % slots
        if blocks[row] == 0 or lengths[row, newest] >= block:
            newest = (start[row] + blocks[row]) % slots
            blocks[row] += 1
            codes[row, newest, 0] = coded[i]
            lengths[row, newest] = 1
        else:
            length, place = lengths[row, newest], places[i]
            for j in range(length, place, -1):
                codes[row, newest, j] = codes[row, newest, j - 1]
            codes[row, newest, place] = coded[i]
            lengths[row, newest] = length + 1
        longest = max(longest, lengths[row, newest])
        count[row] += 1
        learned[row] += 1
    return longest


class TailRows:
    """The ``TailCalibrator(window, min_count)`` of each row (see the module docstring)."""

    def __init__(self, window: int, min_count: int = 30) -> None:
        probe = TailCalibrator(window, min_count)
        self.window, self.min_count = probe.window, probe.min_count
        self.block = probe._calibrator.block
        self.codes: Array = np.zeros((0, BLOCKS, _FIRST_SLOTS), dtype=np.uint16)
        self.lengths: Array = np.zeros((0, BLOCKS), dtype=np.int64)
        self.start: Array = np.zeros(0, dtype=np.int64)
        self.blocks: Array = np.zeros(0, dtype=np.int64)
        """Blocks each row's window holds (a new window one, empty, as ``TailWindow``'s)."""
        self.count: Array = np.zeros(0, dtype=np.int64)
        """Scores in each row's window."""
        self.learned: Array = np.zeros(0, dtype=np.int64)
        """Scores each row's calibrator learned (``TailCalibrator._count``)."""
        self.last: Array = np.zeros(0)
        self.scored: Array = np.zeros(0, dtype=np.bool_)
        """Whether the row scored since it started (``TailCalibrator._last`` is not None)."""
        self._longest = 0
        """The longest block any row has had (the slots hold at least one more code)."""

    # --- rows ------------------------------------------------------------------------------

    def reset(self, row: int) -> None:
        """``row`` as a new calibrator (the arrays grown to hold it)."""
        if row >= len(self.start):
            self._grow_rows(max(16, 2 * len(self.start), row + 1))
        self.lengths[row] = 0
        self.start[row], self.blocks[row], self.count[row], self.learned[row] = 0, 1, 0, 0
        self.last[row], self.scored[row] = 0.0, False

    def fits(self, post: object) -> TypeGuard[TailCalibrator]:
        """Whether ``post`` is a calibrator these arrays can hold as it is."""
        if type(post) is not TailCalibrator or type(post._calibrator) is not TailWindow:
            return False
        window = post._calibrator
        return (
            (post.window, post.min_count, window.window)
            == (self.window, self.min_count, self.window)
            and 0 < len(window._blocks) <= BLOCKS
            and all(len(block) <= self.block for block in window._blocks)
            and sum(len(block) for block in window._blocks) == window._count
        )

    def load(self, row: int, post: TailCalibrator) -> None:
        """Set ``row`` to the state of ``post`` (one that :meth:`fits`)."""
        self.reset(row)
        window = post._calibrator
        longest = max(len(block) for block in window._blocks)
        self._ensure_slots(longest + 1)
        self._longest = max(self._longest, longest)
        for slot, block in enumerate(window._blocks):
            self.codes[row, slot, : len(block)] = np.frombuffer(block, dtype=np.uint16)
            self.lengths[row, slot] = len(block)
        self.blocks[row], self.count[row] = len(window._blocks), window._count
        self.learned[row] = post._count
        if post._last is not None:
            self.last[row], self.scored[row] = post._last, True

    def post(self, row: int) -> TailCalibrator:
        """The calibrator object in the state of ``row``."""
        post = TailCalibrator(self.window, self.min_count)
        slots = self.lengths.shape[1]
        order = ((int(self.start[row]) + b) % slots for b in range(int(self.blocks[row])))
        blocks = [
            array("H", self.codes[row, slot, : self.lengths[row, slot]].tobytes()) for slot in order
        ]
        window = TailWindow.__new__(TailWindow)
        window.__setstate__((self.window, blocks))  # as unpickled (its fields in that order)
        post._calibrator = window
        post._count = int(self.learned[row])
        post._last = float(self.last[row]) if self.scored[row] else None
        return post

    # --- one round ---------------------------------------------------------------------------

    def score(self, rows: Array, raws: Array) -> tuple[list[float], Array, Array]:
        """The tail probabilities of distinct ``rows``' raw scores ``raws``; their codes and
        places (for :meth:`learn`)."""
        coded = code_array(raws)
        probabilities, places = _score(
            rows,
            coded,
            raws,
            self.codes,
            self.lengths,
            self.start,
            self.blocks,
            self.count,
            self.learned,
            self.last,
            self.scored,
            self.min_count,
        )
        return probabilities.tolist(), coded, places

    def learn(self, rows: Array, coded: Array, places: Array, taught: Array) -> None:
        """Learn the last scores of ``rows`` where ``taught`` (after :meth:`score`)."""
        if self._longest >= self.codes.shape[2]:
            self._ensure_slots(self._longest + 1)
        longest = _learn(
            rows,
            coded,
            places,
            taught,
            self.codes,
            self.lengths,
            self.start,
            self.blocks,
            self.count,
            self.learned,
            self.scored,
            self.window,
            self.block,
        )
        self._longest = max(self._longest, longest)

    # --- growth ----------------------------------------------------------------------------

    def _grow_rows(self, capacity: int) -> None:
        for name in _ARRAYS:
            old: Array = getattr(self, name)
            grown = np.zeros((capacity, *old.shape[1:]), dtype=old.dtype)
            grown[: len(old)] = old
            setattr(self, name, grown)

    def _ensure_slots(self, needed: int) -> None:
        """Slots of at least ``needed`` codes (at most a block's size)."""
        size = self.codes.shape[2]
        if needed <= size or size >= self.block:
            return
        while size < needed:
            size *= 2
        size = min(size, self.block)
        grown = np.zeros((len(self.codes), BLOCKS, size), dtype=np.uint16)
        grown[:, :, : self.codes.shape[2]] = self.codes
        self.codes = grown

    def nbytes(self) -> int:
        """Bytes the arrays hold."""
        return sum(getattr(self, name).nbytes for name in _ARRAYS)
