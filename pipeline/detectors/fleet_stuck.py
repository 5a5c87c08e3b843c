"""The frozen-sensor watch (:class:`~pipeline.detectors.stuck.StuckWatch`) of a fleet, in arrays.

One row per fleet member, one column per channel: the last value (NaN for none yet), the
current run of repeats, the longest run that ended, and the learned and changed counts. A round
is a handful of element-wise operations instead of two dictionary loops per reading (which took
about a fifth of the service's time); the decisions are :class:`StuckWatch`'s, bit for bit,
and a row converts to and from a :class:`StuckWatch` exactly (``tests/pipeline/test_fleet.py``).

Examples
--------
>>> import numpy as np
>>> from pipeline.detectors.fleet import RowArrays
>>> rows = RowArrays(SHAPES(1))
>>> stuck = StuckRows(("t",), after=3)
>>> row = rows.alloc()
>>> stuck.reset(rows.arrays, row)
>>> at = np.array([row])
>>> for i in range(200):
...     _ = stuck.observe(rows.arrays, at, np.array([[40.0 + (i % 7) * 0.01]]))
...     stuck.learn(rows.arrays, at)
>>> [stuck.observe(rows.arrays, at, np.array([[40.05]])) for _ in range(4)]
[{}, {}, {}, {0: ['t']}]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pipeline.detectors.fleet_kernels import stuck_learn, stuck_observe
from pipeline.detectors.fleet_math import Array
from pipeline.detectors.stuck import MIN_LEARNED, StuckWatch

__all__ = ["SHAPES", "StuckRows"]

_FIELDS = ("stuck_last", "stuck_run", "stuck_longest", "stuck_learned", "stuck_changed")


def SHAPES(channels: int) -> dict[str, tuple[tuple[int, ...], Any]]:  # noqa: N802 - a table
    """The row arrays the watch needs (to add to a fleet's :class:`RowArrays`)."""
    shapes: dict[str, tuple[tuple[int, ...], Any]] = {"stuck_last": ((channels,), np.float64)}
    for name in _FIELDS[1:]:
        shapes[name] = ((channels,), np.int64)
    return shapes


class StuckRows:
    """:class:`StuckWatch` ``(after, min_change, factor)`` of every row over ``channels``."""

    def __init__(
        self, channels: tuple[str, ...], after: int, min_change: float = 0.9, factor: int = 3
    ) -> None:
        self.channels = channels
        self.after = after
        self.min_change = min_change
        self.factor = factor
        self._observed: tuple[Array, Array] | None = None
        """The rows of the last :meth:`observe` and their runs (for :meth:`learn`)."""
        self.compiled = True
        """Whether rounds run the compiled kernels (the same numbers as the array calls)."""

    def reset(self, a: dict[str, Array], row: int) -> None:
        """A fresh watch in ``row`` (the other fields are zeroed by ``RowArrays.alloc``)."""
        a["stuck_last"][row] = np.nan

    def fits(self, watch: StuckWatch) -> bool:
        """Whether ``watch`` has these parameters and knows no channel but ours."""
        params = (watch.after, watch.min_change, watch.factor)
        if params != (self.after, self.min_change, self.factor):
            return False
        known = set(self.channels)
        parts = (watch._last, watch._run, watch._longest, watch._learned, watch._changed)
        return all(known.issuperset(part) for part in parts)

    def load(self, a: dict[str, Array], row: int, watch: StuckWatch) -> None:
        """Take over the state of ``watch`` (it :meth:`fits`)."""
        for j, name in enumerate(self.channels):
            last = watch._last.get(name)
            a["stuck_last"][row, j] = np.nan if last is None else last
            a["stuck_run"][row, j] = watch._run.get(name, 0)
            a["stuck_longest"][row, j] = watch._longest.get(name, 0)
            a["stuck_learned"][row, j] = watch._learned.get(name, 0)
            a["stuck_changed"][row, j] = watch._changed.get(name, 0)

    def unload(self, a: dict[str, Array], row: int) -> StuckWatch:
        """The :class:`StuckWatch` in the state of ``row`` (absent entries mean 0 or none)."""
        watch = StuckWatch(self.after, self.min_change, self.factor)
        names = self.channels
        last, run, longest, learned, changed = (a[name][row].tolist() for name in _FIELDS)
        observed = [j for j, value in enumerate(last) if value == value]  # not NaN
        watch._last = {names[j]: last[j] for j in observed}
        watch._run = {names[j]: run[j] for j in observed}
        watch._longest = {name: n for name, n in zip(names, longest, strict=True) if n}
        watch._learned = {name: n for name, n in zip(names, learned, strict=True) if n}
        watch._changed = {name: n for name, n in zip(names, changed, strict=True) if n}
        return watch

    def observe(self, a: dict[str, Array], rows: Array, values: Array) -> dict[int, list[str]]:
        """:meth:`StuckWatch.observe` of each row's reading (rows distinct).

        The stuck channels (in ``channels`` order) by position in ``rows``, where there are any.
        """
        if self.compiled:
            run, top = stuck_observe(
                rows.astype(np.intp, copy=False),
                np.ascontiguousarray(values, dtype=np.float64),
                a["stuck_last"],
                a["stuck_run"],
                a["stuck_longest"],
            )
        else:
            previous = a["stuck_run"].take(rows, axis=0)
            run = np.where(a["stuck_last"].take(rows, axis=0) == values, previous + 1, 0)
            longest = a["stuck_longest"].take(rows, axis=0)
            # a run that ended (run 0) longer than the longest: max(longest, 0) = longest else
            longest = np.maximum(longest, previous * (run == 0))
            a["stuck_longest"][rows], a["stuck_last"][rows] = longest, values
            a["stuck_run"][rows] = run
            top = np.maximum.reduce(run, axis=None) if run.size else 0
        self._observed = rows, run
        out: dict[int, list[str]] = {}
        if not run.size or top < self.after:  # the usual round
            return out
        longest = a["stuck_longest"].take(rows, axis=0)
        candidate = run >= np.maximum(self.after, self.factor * longest)
        if not np.count_nonzero(candidate):  # not any(): its wrapper costs more
            return out
        learned = a["stuck_learned"][rows] - run
        changed = a["stuck_changed"][rows]
        stuck = candidate & (learned >= MIN_LEARNED) & (changed >= self.min_change * learned)
        for i, j in zip(*np.nonzero(stuck), strict=True):
            out.setdefault(int(i), []).append(self.channels[int(j)])
        return out

    def learn(self, a: dict[str, Array], rows: Array) -> None:
        """:meth:`StuckWatch.learn` of the last observed reading of each of ``rows``."""
        observed, self._observed = self._observed, None
        if len(rows) and self.compiled:  # observe stored the runs: the same as it found
            stuck_learn(
                rows.astype(np.intp, copy=False),
                a["stuck_run"],
                a["stuck_learned"],
                a["stuck_changed"],
            )
        elif len(rows):
            a["stuck_learned"][rows] = a["stuck_learned"].take(rows, axis=0) + 1
            # the runs observe stored, when learning the same rows (the usual round)
            run = observed[1] if observed is not None and observed[0] is rows else None
            changed = (a["stuck_run"].take(rows, axis=0) if run is None else run) == 0
            a["stuck_changed"][rows] = a["stuck_changed"].take(rows, axis=0) + changed
