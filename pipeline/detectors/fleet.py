"""A fleet's detectors in arrays: every asset's state a row, scored together in rounds.

With one model per asset, a batch of 1,000 readings over 1,000 assets gives each model about
one reading: too few for per-model vectorisation. A :class:`Fleet` keeps the state of all its
assets' detectors in arrays (one row per asset) and scores a *round* — at most one reading of
each asset — with a handful of array operations. A batch is cut into rounds (the first reading
of every asset, then the second, ...), so each asset still sees its readings strictly in order,
one at a time, and every score is the one its own per-reading detector gives (see
``tests/pipeline/test_fleet.py``).

A :class:`FleetSlot` stands for one row in ``Processor.assets``. It pickles as the equivalent
per-reading detector (or as a fleet's ``reduce_row``: a function and plain values that
unpickle as that detector), so a restored asset rejoins the fleet.

The exact array arithmetic rounds use is in :mod:`pipeline.detectors.fleet_math`, the
contributions they make in :mod:`pipeline.detectors.fleet_shares`.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from pipeline.detectors.base import Detector
from pipeline.detectors.fleet_math import Array
from pipeline.detectors.fleet_shares import Contribution

__all__ = ["Fleet", "FleetSlot", "RoundResult", "RowArrays"]


class RoundResult:
    """What scoring one round gives: scores, contributions and outliers, in the round's order."""

    __slots__ = ("scores", "contributions", "outliers", "context")

    def __init__(
        self,
        scores: list[float],
        contributions: list[Contribution],
        outliers: list[bool],
        context: Any,
    ) -> None:
        self.scores = scores
        self.contributions = contributions
        self.outliers = outliers
        self.context = context


class Fleet(Protocol):
    """The detectors of every asset whose readings have ``channels``, in arrays."""

    name: str
    channels: tuple[str, ...]

    def new_row(self) -> int:
        """A fresh detector's row."""

    def absorb(self, detector: object) -> int | None:
        """Take over a per-reading detector's state (a row), or ``None`` if it does not fit."""

    def materialise(self, row: int) -> Detector:
        """The per-reading detector in the state of ``row``."""

    def release(self, row: int) -> None:
        """Forget ``row`` (its asset left the fleet)."""

    def score(self, rows: Array, values: Array) -> RoundResult:
        """Score one reading (a row of ``values``) of each asset of ``rows`` (distinct)."""

    def learn(self, result: RoundResult, learn: Array) -> None:
        """Learn the readings of the round where ``learn`` is true (after :meth:`score`)."""


def _identity(detector: Detector) -> Detector:
    return detector


class FleetSlot:
    """One asset's place in a fleet; pickles as the per-reading detector it stands for."""

    __slots__ = ("fleet", "row", "name")

    def __init__(self, fleet: Fleet, row: int) -> None:
        self.fleet = fleet
        self.row = row
        self.name = fleet.name

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        if self.row < 0:
            raise TypeError("this asset left its fleet: pickle the processor's current state")
        reduce_row = getattr(self.fleet, "reduce_row", None)
        if reduce_row is not None:  # a fleet that pickles a row as plain values (cheaper)
            reduced: tuple[Any, tuple[Any, ...]] = reduce_row(self.row)
            return reduced
        return _identity, (self.fleet.materialise(self.row),)

    def _refuse(self) -> None:
        raise TypeError("a fleet member is scored by its fleet (Processor.process_batch)")

    def score_one(self, x: dict[str, float]) -> float:
        self._refuse()
        return 0.0

    def learn_one(self, x: dict[str, float]) -> None:
        self._refuse()

    def contributions(self, x: dict[str, float]) -> dict[str, float]:
        self._refuse()
        return {}

    def is_outlier(self, x: dict[str, float]) -> bool:
        self._refuse()
        return False


class RowArrays:
    """Arrays with one row per fleet member, grown by doubling; freed rows are reused."""

    def __init__(self, shapes: dict[str, tuple[tuple[int, ...], type]]) -> None:
        self._shapes = shapes
        self.capacity = 0
        self.arrays: dict[str, Array] = {
            name: np.zeros((0, *shape), dtype=dtype) for name, (shape, dtype) in shapes.items()
        }
        self._free: list[int] = []
        self._next = 0

    def alloc(self) -> int:
        """A row, zeroed (the Mahalanobis smoother relies on it: a history slot not yet
        filled holds 0.0, which it subtracts without changing a bit)."""
        if self._free:
            row = self._free.pop()
        else:
            if self._next == self.capacity:
                self._grow(max(16, 2 * self.capacity))
            row, self._next = self._next, self._next + 1
        for array in self.arrays.values():
            array[row] = 0
        return row

    def free(self, row: int) -> None:
        self._free.append(row)

    def _grow(self, capacity: int) -> None:
        for name, array in self.arrays.items():
            grown = np.zeros((capacity, *array.shape[1:]), dtype=array.dtype)
            grown[: self.capacity] = array
            self.arrays[name] = grown
        self.capacity = capacity
