"""A compact window of recent raw scores for the empirical tail probability.

:class:`~pipeline.model.ScoreCalibrator` keeps its window as doubles twice (a ring in arrival
order and a sorted copy): 16 bytes a score, 160 KB per asset with the default 10,000-score
window, which made the calibration windows most of the service's memory and snapshots.
:class:`TailWindow` keeps each score once, as a 2-byte *code*, in a few sorted blocks:

- **Codes.** A score's code is monotone in the score (``code(a) <= code(b)`` when ``a <= b``)
  and keeps about 0.1 % of relative resolution from ``1e-6`` to ``1.8e8`` in magnitude, of
  either sign (:func:`code`). Only ranks matter for a tail probability, so two scores within
  0.1 % of each other counting as equal is the only change: the rank of a score can only go
  down (ties do not count as exceeded).
- **Blocks.** The window is cut into blocks of ``block = ceil(window / BLOCKS)`` arrival-
  ordered scores, each kept sorted; when the newest block is full the next score starts a new
  one, and when the window is full the oldest block is dropped whole. So the window holds
  between ``window - block + 1`` and ``window`` of the latest scores (7,501 to 10,000 by
  default), and no ring is needed to know which score leaves. A window of at most ``BLOCKS``
  scores has blocks of one score: exactly the last ``window`` scores.

Examples
--------
>>> tail = TailWindow(window=4)
>>> for raw in (0.1, 0.2, 0.3, 0.4, 0.25):
...     tail.learn_one(raw)
>>> tail.tail_probability(0.35), tail.tail_probability(0.9), len(tail)
(0.75, 1.0, 4)
>>> code(-1.0) < code(0.0) == code(1e-9) < code(1e-6) < code(1.0) < code(1.002)
True
"""

from __future__ import annotations

import bisect
import math
from array import array
from typing import Any

import numpy as np
import numpy.typing as npt

from pipeline.detectors.jit import jit

__all__ = ["BLOCKS", "TailWindow", "code", "code_array"]

BLOCKS = 4
"""Blocks a window is cut into (a full window drops a quarter of its scores at a time)."""

_TINY = 1e-6
"""Magnitudes below this code as zero."""
_LOG_TINY = math.log(_TINY)
_STEP = 1e-3
"""Natural-log width of a code: about 0.1 % of relative resolution."""
_HALF = 32768
_TOP = 32767
"""Levels per sign: magnitudes from 1e-6 up to ``_HUGE`` (about 1.8e8), then all ``_TOP``."""
_HUGE = _TINY * math.exp((_TOP - 1) * _STEP)


def code(raw: float) -> int:
    """The 16-bit code of ``raw``: monotone, 0.1 % resolution, ``32768`` for zero.

    >>> code(0.0), code(1e-6), code(2.0) < code(2.01), code(1e12), code(-1e12), code(-0.5) < _HALF
    (32768, 32769, True, 65535, 1, True)
    >>> code(float("inf")), code(float("-inf")), code(float("nan"))
    (65535, 1, 32768)
    """
    magnitude = abs(raw)
    if not magnitude >= _TINY:  # also NaN
        return _HALF
    if magnitude >= _HUGE:  # also infinity
        level = _TOP
    else:
        level = min(_TOP, 1 + int((math.log(magnitude) - _LOG_TINY) / _STEP))
    return _HALF + level if raw > 0.0 else _HALF - level


class TailWindow:
    """The fraction of the recent learned raw scores (as codes) that a raw score exceeds."""

    def __init__(self, window: int) -> None:
        self.window = window
        self.block = -(-window // BLOCKS)
        self._blocks: list[array[int]] = [array("H")]
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def learn_one(self, raw: float) -> None:
        """Add ``raw`` to the window (dropping the oldest block when it is full)."""
        self.learn_code(code(raw))

    def learn_code(self, coded: int) -> None:
        """:meth:`learn_one` of a score whose :func:`code` is ``coded``."""
        blocks = self._blocks
        if self._count >= self.window:
            self._count -= len(blocks.pop(0))
        if not blocks or len(blocks[-1]) >= self.block:
            blocks.append(array("H"))
        bisect.insort(blocks[-1], coded)
        self._count += 1

    def tail_probability(self, raw: float) -> float:
        """The fraction of the window's scores whose code is below ``raw``'s."""
        return self.probability_of_code(code(raw))

    def probability_of_code(self, coded: int) -> float:
        """:meth:`tail_probability` of a score whose :func:`code` is ``coded``."""
        if not self._count:
            return 0.0
        below = 0
        for block in self._blocks:
            below += bisect.bisect_left(block, coded)
        return below / self._count

    def __getstate__(self) -> tuple[int, list[array[int]]]:
        return self.window, self._blocks

    def __setstate__(self, state: tuple[int, list[array[int]]]) -> None:
        self.window, self._blocks = state
        self.block = -(-self.window // BLOCKS)
        self._count = sum(len(block) for block in self._blocks)

    @classmethod
    def from_scores(cls, window: int, scores: list[float]) -> TailWindow:
        """A window that learned ``scores`` (oldest first), e.g. from an older snapshot.

        >>> TailWindow.from_scores(4, [0.1, 0.2, 0.3, 0.4, 0.25]).tail_probability(0.35)
        0.75
        """
        tail = cls(window)
        latest = np.asarray(scores, dtype=np.float64)[-window:]
        if not len(latest):
            return tail
        codes = _codes(latest)
        block = tail.block
        chunks = [np.sort(codes[i : i + block]) for i in range(0, len(codes), block)]
        tail._blocks = [array("H", chunk.tobytes()) for chunk in chunks]
        tail._count = sum(len(b) for b in tail._blocks)
        return tail


def code_array(raws: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """:func:`code` of every value, exactly: one compiled loop, then :func:`code` itself for
    the values whose level lies within rounding error of a code boundary (the compiled ``log``
    may differ from ``math.log`` in the last bit there).

    >>> edges = _TINY * np.exp(np.arange(0, 30000, 7) * _STEP)
    >>> raws = np.concatenate([edges, np.nextafter(edges, 0), np.nextafter(edges, 1e9), -edges])
    >>> code_array(raws).tolist() == [code(r) for r in raws.tolist()]
    True
    """
    out: npt.NDArray[np.int64]
    out, near = _code_loop(np.ascontiguousarray(raws, dtype=np.float64))
    if near:
        for index in np.flatnonzero(out < 0).tolist():
            out[index] = code(float(raws[index]))
    return out


@jit
def _code_loop(raws: Any) -> tuple[Any, bool]:  # pragma: no cover - compiled
    """:func:`code` of each value, ``-1`` where the level is near a boundary (and whether any
    is)."""
    out = np.empty(raws.shape[0], dtype=np.int64)
    near = False
    for i in range(raws.shape[0]):
        raw = raws[i]
        magnitude = abs(raw)
        if not magnitude >= _TINY:  # also NaN
            out[i] = _HALF
            continue
        if magnitude >= _HUGE:  # also infinity
            whole = _TOP
        else:
            level = (math.log(magnitude) - _LOG_TINY) / _STEP
            fraction = level - math.floor(level)
            if fraction < 1e-6 or fraction > 1.0 - 1e-6:
                out[i] = -1
                near = True
                continue
            whole = min(1 + int(level), _TOP)
        out[i] = _HALF + whole if raw > 0.0 else _HALF - whole
    return out, near


def _codes(raws: npt.NDArray[np.float64]) -> npt.NDArray[np.uint16]:
    """:func:`code` of every value (for converting whole windows).

    >>> raws = [-2.0, -1e-7, 0.0, 1e-6, 0.5, 3.0, 1e12, float("inf"), float("nan")]
    >>> _codes(np.array(raws)).tolist() == [code(r) for r in raws]
    True
    """
    return _signed(raws, *_levels(raws)).astype(np.uint16)


def _levels(
    raws: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_], npt.NDArray[np.float64]]:
    """Which magnitudes code as zero (below ``_TINY``, or NaN) and which as the top level, and
    the level of every magnitude (of 1.0 for those)."""
    magnitude = np.abs(raws)
    small, huge = ~(magnitude >= _TINY), magnitude >= _HUGE
    level = (np.log(np.where(small | huge, 1.0, magnitude)) - _LOG_TINY) / _STEP
    return small, huge, level


def _signed(
    raws: npt.NDArray[np.float64],
    small: npt.NDArray[np.bool_],
    huge: npt.NDArray[np.bool_],
    level: npt.NDArray[np.float64],
) -> npt.NDArray[np.int64]:
    """The codes (as int64) of ``raws``, given their magnitudes' classes and fractional levels."""
    whole = np.where(small, 0, np.where(huge, _TOP, np.minimum(1 + level.astype(np.int64), _TOP)))
    signed: npt.NDArray[np.int64] = np.where(raws > 0.0, _HALF + whole, _HALF - whole)
    return signed
