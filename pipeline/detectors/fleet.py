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

Examples
--------
>>> import numpy as np
>>> python_round(np.array([0.12345, 0.5, 2.675]), 2)
array([0.12, 0.5 , 2.67])
>>> [shares_dict(s) for s in round_shares(("a", "b"), np.array([[1.0, 3.0], [0.0, 0.0]]))]
[{'a': 0.25, 'b': 0.75}, {}]
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Sequence
from typing import Any, Protocol

import msgspec
import numpy as np
import numpy.typing as npt

from pipeline.detectors.base import Detector, shares

__all__ = [
    "Contribution",
    "Fleet",
    "all_true",
    "any_true",
    "FleetSlot",
    "RoundResult",
    "last_axis_max",
    "last_axis_sums",
    "python_round",
    "round_shares",
    "shares_dict",
    "shares_struct",
]

Array = npt.NDArray[Any]


def python_round(values: Array, ndigits: int) -> Array:
    """``round(v, ndigits)`` of each value, exactly as Python rounds (correctly, half to even).

    ``rint(v * 10**n) / 10**n`` is Python's result unless ``v * 10**n`` lies within rounding
    error of a half: those few values are rounded by Python itself.
    """
    scale = 10.0**ndigits
    scaled = values * scale
    rounded: Array = np.rint(scaled) / scale
    near_half = np.abs(scaled - np.floor(scaled) - 0.5) < 1e-6
    if any_true(near_half):
        for index in np.flatnonzero(near_half):
            rounded.flat[index] = round(float(values.flat[index]), ndigits)
    return rounded


def any_true(mask: Array) -> bool:
    """``mask.any()`` of a boolean array, by ``count_nonzero`` (a C call: ``any``'s Python
    wrapper costs ~1.6 µs a call, several times a round).

    >>> any_true(np.array([False, True])), any_true(np.zeros(0, dtype=np.bool_))
    (True, False)
    """
    return bool(np.count_nonzero(mask))


def all_true(mask: Array) -> bool:
    """``mask.all()`` of a boolean array (see :func:`any_true`).

    >>> all_true(np.array([[True], [False]])), all_true(np.zeros(0, dtype=np.bool_))
    (False, True)
    """
    return bool(np.count_nonzero(mask) == mask.size)


def last_axis_sums(values: Array) -> Array:
    """``values.sum(axis=-1)``, the same bits, in a few whole-column additions.

    numpy sums a short last axis with one inner loop per output element (a round's ``k x c x
    c`` products: ~0.6 ms of 1,000 x 8 x 8); this adds its columns as numpy's pairwise
    summation does (from 0, sequentially below 8 terms, else eight running sums combined
    pairwise, then the rest), which is what ``sum`` gives up to 128 terms. The first use of a
    width checks that on a probe and keeps ``sum`` if this numpy adds otherwise.

    >>> x = np.array([[1e16, 1.0, -1e16, 1.0, 3.0, 1e-3, 2.0, 5.0, 7.0], [-0.0] * 9])
    >>> last_axis_sums(x).tolist() == x.sum(axis=-1).tolist()
    True
    """
    width = values.shape[-1]
    if not _pairwise_matches(width):
        summed: Array = values.sum(axis=-1)
        return summed
    return _pairwise(values)


def _pairwise(values: Array) -> Array:
    width = values.shape[-1]
    columns = [values[..., j] for j in range(width)]  # views; the sums are new arrays
    if width < 8:
        total: Array = np.zeros(values.shape[:-1])
        for column in columns:
            total += column
        return total
    runs = columns[:8]
    end = width - width % 8
    for start in range(8, end, 8):
        runs = [runs[j] + columns[start + j] for j in range(8)]
    # ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7)), then 0.0 + that (-0.0 becomes 0.0)
    total = runs[0] + runs[1]
    total += runs[2] + runs[3]
    upper = runs[4] + runs[5]
    upper += runs[6] + runs[7]
    total += upper
    total += 0.0
    for j in range(end, width):
        total += columns[j]
    return total


@functools.cache
def _pairwise_matches(width: int) -> bool:
    """Whether :func:`_pairwise` gives ``sum``'s bits for ``width`` terms (on a probe)."""
    if not 0 < width <= 128:
        return False
    rng = np.random.default_rng(width)
    probe = rng.standard_normal((64, width)) * 10.0 ** rng.uniform(-12, 12, (64, width))
    probe[rng.random((64, width)) < 0.1] = -0.0
    probe[0] = -0.0
    expected, got = probe.sum(axis=-1), _pairwise(probe)
    return bool(
        np.array_equal(expected, got) and np.array_equal(np.signbit(expected), np.signbit(got))
    )


def last_axis_max(values: Array) -> Array:
    """``values.max(axis=-1)`` of non-negative values (or NaN), column by column (see
    :func:`last_axis_sums`: the same slow inner loop per element).

    >>> last_axis_max(np.array([[1.0, 3.0, 2.0], [0.0, np.nan, 1.0]])).tolist()
    [3.0, nan]
    """
    width = values.shape[-1]
    if width == 1:
        return values[..., 0].copy()
    top: Array = np.maximum(values[..., 0], values[..., 1])
    for j in range(2, width):
        np.maximum(top, values[..., j], out=top)
    return top


def _row_totals(terms: Array) -> Array:
    """Python's ``sum()`` of each row (left to right; compensated from Python 3.12 on)."""
    if sys.version_info >= (3, 12):
        return np.array([sum(row) for row in terms.tolist()], dtype=np.float64)
    total = np.zeros(terms.shape[0])
    for column in range(terms.shape[1]):
        total = total + terms[:, column]
    return total


Contribution = dict[str, float] | msgspec.Struct
"""A reading's contributions: a dict, or a :func:`shares_struct` that encodes as one."""


@functools.lru_cache(maxsize=1024)  # one per channel layout, as BatchPath keeps at most
def shares_struct(names: tuple[str, ...]) -> type[msgspec.Struct] | None:
    """A struct of one float per name that msgspec encodes as the dict ``{name: value}``
    (in ``names`` order; the same bytes): a sixth of the time a dict takes to make.
    ``None`` if a name has a character msgspec does not take in a field name (a quote, a
    backslash or a control character): such channels keep dicts.

    >>> Shares = shares_struct(("a", "temp °C"))
    >>> encode = msgspec.json.encode
    >>> encode(Shares(0.25, 0.75)) == encode({"a": 0.25, "temp °C": 0.75})
    True
    >>> shares_dict(Shares(0.25, 0.75))
    {'a': 0.25, 'temp °C': 0.75}
    >>> shares_struct(('odd "name"',)) is None
    True
    """
    if any('"' in name or "\\" in name or not name.isprintable() for name in names):
        return None
    fields = [f"share{j}" for j in range(len(names))]
    return msgspec.defstruct(
        "ChannelShares",
        [(field, float) for field in fields],
        rename=dict(zip(fields, names, strict=True)),
        namespace={"names": names},
        gc=False,
    )


def shares_dict(shares: Contribution) -> dict[str, float]:
    """The contributions as a dict (a :func:`shares_struct` converted)."""
    if isinstance(shares, dict):
        return shares
    return dict(zip(shares.names, msgspec.structs.astuple(shares), strict=True))  # type: ignore[attr-defined]


def round_shares(names: Sequence[str], terms: Array) -> list[Contribution]:
    """:func:`~pipeline.detectors.base.shares` of every row of non-negative ``terms`` (as
    :func:`shares_struct` objects where a row has any: they encode as the dicts would)."""
    if any("__" in name for name in names):  # features of one channel are summed first
        return [shares(dict(zip(names, row, strict=True))) for row in terms.tolist()]
    totals = _row_totals(terms)
    positive = totals > 0.0
    made = shares_struct(tuple(names))
    make = made if made is not None else lambda *row: dict(zip(names, row, strict=True))
    if all_true(positive):  # the usual round: every row has shares
        ratios = python_round(terms / totals[:, None], 4)
        return list(map(make, *ratios.T.tolist()))  # columns: no list per row
    out: list[Contribution] = [{} for _ in range(terms.shape[0])]
    if any_true(positive):
        ratios = python_round(terms[positive] / totals[positive, None], 4)
        for index, row in zip(np.flatnonzero(positive).tolist(), ratios.tolist(), strict=True):
            out[index] = make(*row)
    return out


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
