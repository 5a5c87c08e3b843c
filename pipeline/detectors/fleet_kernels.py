"""The fleets' round arithmetic compiled (numba): one call a round, not dozens of array calls.

:class:`~pipeline.detectors.fleet_mahalanobis.MahalanobisFleet` scores a round with numpy
(about sixty array calls on ``k x c x c`` temporaries) or, where these kernels apply, with
two compiled loops over the round's rows (:func:`score_round`, :func:`learn_round`);
:class:`~pipeline.detectors.fleet_zscore.ZScoreFleet` likewise (:func:`zscore_round`,
:func:`zscore_learn`); a round's rounded shares are one loop (:func:`share_steps`), and so
is the frozen-sensor watch (:func:`stuck_observe`, :func:`stuck_learn`). Each
kernel does the array path's IEEE operations in its order (sums over a short last axis as
:func:`~pipeline.detectors.fleet_math.last_axis_sums` adds them, no fused multiply-adds, no
reassociation), so a round gives the same bits either way
(``tests/pipeline/test_fleet_kernels.py``).

Compiled code is cached on disk where numba can keep it (:mod:`pipeline.detectors.jit`), so
only the first process compiles.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from pipeline.detectors.fleet_math import _pairwise_matches
from pipeline.detectors.jit import jit

__all__ = [
    "kernels_apply",
    "learn_round",
    "score_round",
    "share_steps",
    "stuck_learn",
    "stuck_observe",
    "zscore_learn",
    "zscore_round",
]


def kernels_apply(channels: int) -> bool:
    """Whether the kernels give the numpy path's bits for ``channels`` channels (its sums are
    ``last_axis_sums``'s pairwise ones: up to 128 terms, on a numpy that adds so)."""
    return channels > 0 and _pairwise_matches(channels)


@jit
def _pairwise_sum(terms: Any, width: int) -> float:  # pragma: no cover - compiled
    """``last_axis_sums`` of one row: numpy's pairwise summation of ``width`` terms."""
    total: float
    if width < 8:
        total = 0.0
        for j in range(width):
            total += terms[j]
        return total
    r0, r1, r2, r3 = terms[0], terms[1], terms[2], terms[3]
    r4, r5, r6, r7 = terms[4], terms[5], terms[6], terms[7]
    end = width - width % 8
    for start in range(8, end, 8):
        r0 += terms[start]
        r1 += terms[start + 1]
        r2 += terms[start + 2]
        r3 += terms[start + 3]
        r4 += terms[start + 4]
        r5 += terms[start + 5]
        r6 += terms[start + 6]
        r7 += terms[start + 7]
    total = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    total += 0.0
    for j in range(end, width):
        total += terms[j]
    return total


@jit
def _smooth_row(  # pragma: no cover - compiled
    row: int, x: Any, out: Any, hist: Any, hpos: Any, hlen: Any, sums: Any, window: int
) -> None:
    """The smoother's step for one row: ``out`` the mean of its last ``window`` readings."""
    c = x.shape[0]
    if window == 1:
        for j in range(c):
            out[j] = x[j]
        return
    slot = hpos[row]
    length = min(hlen[row] + 1, window)
    for j in range(c):
        total = sums[row, j] + x[j]
        total -= hist[row, slot, j]
        sums[row, j] = total
        hist[row, slot, j] = x[j]
        out[j] = total / length
    hpos[row] = (slot + 1) % window
    hlen[row] = length


@jit
def score_round(  # pragma: no cover - compiled
    rows: Any,
    values: Any,
    ready: Any,
    hist: Any,
    hpos: Any,
    hlen: Any,
    sums: Any,
    mean: Any,
    cov: Any,
    prec: Any,
    window: int,
    min_rel_std: float,
    outlier_z: float,
) -> tuple[Any, Any, Any, Any]:
    """Smooth each row's reading, then score the ``ready`` ones: the smoothed readings, and
    for the ready positions the raw distances, the terms ``|d_i (P d)_i|`` and whether the
    largest channel z-score exceeds ``outlier_z`` (zeros elsewhere)."""
    k, c = values.shape
    smoothed = np.empty((k, c))
    raws = np.zeros(k)
    terms = np.zeros((k, c))
    far = np.zeros(k, dtype=np.bool_)
    d = np.empty(c)
    pd = np.empty(c)
    products = np.empty(c)
    for i in range(k):
        row = rows[i]
        _smooth_row(row, values[i], smoothed[i], hist, hpos, hlen, sums, window)
        if not ready[i]:
            continue
        for j in range(c):
            d[j] = smoothed[i, j] - mean[row, j]
        for a in range(c):
            for b in range(c):
                products[b] = prec[row, a, b] * d[b]
            pd[a] = _pairwise_sum(products, c)
        for j in range(c):
            products[j] = d[j] * pd[j]
        total = _pairwise_sum(products, c)
        # np.maximum(x, y): x when x >= y or x is NaN, else y (a NaN y wins then)
        raws[i] = math.sqrt(total if total >= 0.0 or total != total else 0.0)
        top = 0.0
        for j in range(c):
            terms[i, j] = abs(products[j])
            level = min_rel_std * abs(mean[row, j]) + 1e-9
            floor = level * level
            variance = cov[row, j, j]
            z = abs(d[j]) / math.sqrt(
                variance if variance >= floor or variance != variance else floor
            )
            if j == 0 or (top == top and (z != z or z > top)):
                top = z
        far[i] = top > outlier_z
    return smoothed, raws, terms, far


@jit
def learn_round(  # pragma: no cover - compiled
    rows: Any,
    smoothed: Any,
    count: Any,
    mean: Any,
    cov: Any,
    stale: Any,
    forget: float,
    refresh: int,
) -> None:
    """Learn each row's smoothed reading: count, exponentially forgetting mean and
    covariance (``(1 - w) (C + w d d^T)``), and a stale precision every ``refresh``."""
    k, c = smoothed.shape
    d = np.empty(c)
    for i in range(k):
        row = rows[i]
        n = count[row] + 1
        count[row] = n
        w = 1.0 / n
        if forget > w:
            w = forget
        for j in range(c):
            d[j] = smoothed[i, j] - mean[row, j]
        for j in range(c):
            mean[row, j] = mean[row, j] + w * d[j]
        keep = 1.0 - w
        for a in range(c):
            for b in range(c):
                cov[row, a, b] = (cov[row, a, b] + (d[a] * d[b]) * w) * keep
        if n % refresh == 0:
            stale[row] = True


@jit
def _larger(a: float, b: float) -> float:  # pragma: no cover - compiled
    """``np.maximum(a, b)``: ``a`` when ``a >= b`` or ``a`` is NaN, else ``b``."""
    return a if a >= b or a != a else b


@jit
def zscore_round(  # pragma: no cover - compiled
    rows: Any, values: Any, count: Any, mean: Any, m2: Any, min_rel_std: float
) -> tuple[Any, Any]:
    """Each (ready) row's channel z-scores of its reading under its Welford moments, and
    their maximum (``ZScoreFleet``'s arithmetic, in its order)."""
    k, c = values.shape
    z = np.empty((k, c))
    top = np.empty(k)
    for i in range(k):
        row = rows[i]
        n = count[row]
        for j in range(c):
            average = mean[row, j]
            std = math.sqrt(m2[row, j] / (n - 1))
            scale = _larger(_larger(std, min_rel_std * abs(average)), 1e-9)
            z[i, j] = abs(values[i, j] - average) / scale
        best = z[i, 0]
        for j in range(1, c):
            best = _larger(best, z[i, j])
        top[i] = best
    return z, top


@jit
def zscore_learn(  # pragma: no cover - compiled
    rows: Any, values: Any, count: Any, mean: Any, m2: Any
) -> None:
    """Welford's step for each row's reading (``ZScoreFleet.learn``'s arithmetic)."""
    k, c = values.shape
    for i in range(k):
        row = rows[i]
        n = count[row] + 1
        count[row] = n
        for j in range(c):
            before = mean[row, j]
            delta = values[i, j] - before
            after = before + delta / n
            mean[row, j] = after
            m2[row, j] = m2[row, j] + delta * (values[i, j] - after)


@jit
def share_steps(terms: Any, steps: int) -> tuple[Any, bool]:  # pragma: no cover - compiled
    """Each row's shares of its non-negative ``terms`` as whole ``1 / steps``: what
    ``round_shares`` makes (the row's total summed left to right, as Python's ``sum`` before
    3.12; each ratio rounded as Python rounds), and whether they all are such: ``False`` if a
    row's total is not positive or a ratio lies within rounding error of a half step (then
    the caller rounds that round as before)."""
    k, c = terms.shape
    out = np.empty((k, c), dtype=np.int64)
    for i in range(k):
        total = 0.0
        for j in range(c):
            total = total + terms[i, j]
        if not total > 0.0:
            return out, False
        for j in range(c):
            scaled = terms[i, j] / total * steps
            whole = math.floor(scaled)
            if abs(scaled - whole - 0.5) < 1e-6 or not 0.0 <= scaled <= steps:
                return out, False
            out[i, j] = int(math.floor(scaled + 0.5))
    return out, True


@jit
def stuck_observe(  # pragma: no cover - compiled
    rows: Any, values: Any, last: Any, run: Any, longest: Any
) -> tuple[Any, int]:
    """The frozen-sensor watch's step for each row's reading (``StuckRows.observe``'s
    arithmetic): each channel's run of repeats (stored, and returned) and the longest run."""
    k, c = values.shape
    runs = np.empty((k, c), dtype=np.int64)
    top = 0
    for i in range(k):
        row = rows[i]
        for j in range(c):
            previous = run[row, j]
            current = previous + 1 if last[row, j] == values[i, j] else 0
            if current == 0 and previous > longest[row, j]:  # a run that ended, longer
                longest[row, j] = previous
            last[row, j] = values[i, j]
            run[row, j] = current
            runs[i, j] = current
            top = max(top, current)
    return runs, top


@jit
def stuck_learn(rows: Any, run: Any, learned: Any, changed: Any) -> None:  # pragma: no cover
    """``StuckRows.learn``: each row's readings learned, and those that changed (run 0)."""
    c = run.shape[1]
    for i in range(rows.shape[0]):
        row = rows[i]
        for j in range(c):
            learned[row, j] += 1
            if run[row, j] == 0:
                changed[row, j] += 1
