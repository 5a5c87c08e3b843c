"""The default detector (smoothing | online Mahalanobis | calibration) of a whole fleet in arrays.

Row ``r`` holds what one :class:`~pipeline.detectors.scored.CalibratedDetector` over an
:class:`~pipeline.detectors.mahalanobis.OnlineMahalanobis` holds: the smoother's last
``smooth`` readings and their sums, the count, mean, covariance and (refreshed every
``refresh`` learned readings) regularised inverse covariance. Each step is the per-reading
detector's arithmetic applied element-wise to all rows of a round, so a score differs from the
per-reading one at most in the last bits of the matrix-vector product (and not at all once
calibrated and rounded, in the tests). The tail calibrators are rows of arrays too
(:class:`~pipeline.detectors.fleet_tails.TailRows`); an anomaly likelihood stays one small
object per asset. Where they apply, the round's arithmetic runs compiled
(:mod:`~pipeline.detectors.fleet_kernels`, the same bits).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from pipeline.detectors.base import Detector
from pipeline.detectors.calibration import PostProcessor, build_post
from pipeline.detectors.fleet import RoundResult, RowArrays
from pipeline.detectors.fleet_kernels import kernels_apply, learn_round, score_round
from pipeline.detectors.fleet_mahalanobis_rows import RECORD_VERSION, absorb, record
from pipeline.detectors.fleet_math import Array, all_true, any_true, last_axis_max, last_axis_sums
from pipeline.detectors.fleet_shares import Contribution, round_shares
from pipeline.detectors.fleet_stuck import SHAPES, StuckRows
from pipeline.detectors.fleet_tails import TailRows
from pipeline.detectors.mahalanobis import OnlineMahalanobis, regularised_inverse
from pipeline.detectors.scored import CalibratedDetector
from pipeline.detectors.stuck import StuckWatch, stuck_shares
from pipeline.settings import ModelSettings

__all__ = ["MahalanobisFleet"]

_Tails = tuple[Array, Array | None, Array | None, Array | None]
"""What learning a round's posts takes: the ready rows; which of them have their post in
:attr:`MahalanobisFleet.tails` (``None``: all); those rows' codes and places (``None``: none)."""


class MahalanobisFleet:
    """Every asset's ``mahalanobis`` detector over ``channels`` (sorted), one row each."""

    def __init__(self, channels: tuple[str, ...], settings: ModelSettings) -> None:
        self.channels = channels
        self.settings = settings
        stuck = "" if settings.stuck_after is None else f",stuck={settings.stuck_after}"
        self.name = f"mahalanobis(smooth={settings.smooth},{settings.calibration}{stuck})"
        self._template = OnlineMahalanobis(settings.forget, settings.ridge, settings.min_rel_std)
        """A fresh per-reading model with the fleet's parameters (which a detector must share)."""
        c, w = len(channels), settings.smooth
        after = settings.stuck_after
        self.stuck = None if after is None else StuckRows(channels, after)
        """Every row's frozen-sensor watch (``model.stuck_after``; none when it is off)."""
        self.rows = RowArrays(
            {
                **(SHAPES(c) if self.stuck is not None else {}),
                "hist": ((w, c), np.float64),
                "hpos": ((), np.int64),
                "hlen": ((), np.int64),
                "sums": ((c,), np.float64),
                "count": ((), np.int64),
                "mean": ((c,), np.float64),
                "cov": ((c, c), np.float64),
                "prec": ((c, c), np.float64),
                "stale": ((), np.bool_),
                "blind": ((), np.bool_),  # the covariance has an inf or NaN: cannot score
            }
        )
        self.tails = (
            TailRows(settings.calibration_window) if settings.calibration == "tail" else None
        )
        """Every row's tail calibrator, in arrays (``None`` under the likelihoods)."""
        self._posts: dict[int, PostProcessor] = {}
        """The post-processors kept as objects: all of them under the likelihoods, else
        those :attr:`tails` cannot hold (a calibrator of other settings, restored)."""
        self._diagonal = np.arange(c)
        """The covariances' diagonal indices."""
        self._untailed: set[int] = set()
        """The rows of :attr:`_posts`."""
        self.compiled = kernels_apply(c)
        """Whether rounds run the compiled kernels (:mod:`~pipeline.detectors.fleet_kernels`:
        the same bits) rather than numpy's array calls."""

    # --- membership ------------------------------------------------------------------------

    def _post(self) -> PostProcessor:
        s = self.settings
        return build_post(s.calibration, s.calibration_window, s.likelihood_short)

    def new_row(self) -> int:
        row = self.rows.alloc()
        self.rows.arrays["stale"][row] = True
        if self.tails is not None:
            self.tails.reset(row)
            self._forget_post(row)
        else:
            self._set_post(row, self._post())
        if self.stuck is not None:
            self.stuck.reset(self.rows.arrays, row)
        return row

    def _set_post(self, row: int, post: PostProcessor) -> None:
        """Give ``row`` the post-processor ``post`` (into :attr:`tails` if it fits)."""
        if self.tails is not None and self.tails.fits(post):
            self.tails.load(row, post)
            self._forget_post(row)
        else:
            self._posts[row] = post
            self._untailed.add(row)

    def _forget_post(self, row: int) -> None:
        self._posts.pop(row, None)
        self._untailed.discard(row)

    def post(self, row: int) -> PostProcessor:
        """The post-processor of ``row`` (an object made from :attr:`tails` if there)."""
        if row in self._untailed or self.tails is None:
            return self._posts[row]
        return self.tails.post(row)

    def release(self, row: int) -> None:
        self._forget_post(row)
        self.rows.free(row)

    def absorb(self, detector: object) -> int | None:
        return absorb(self, detector)

    def materialise(self, row: int) -> Detector:
        return _rebuild(*record(self, row))

    def reduce_row(self, row: int) -> tuple[Callable[..., Detector], tuple[Any, ...]]:
        """How :class:`~pipeline.detectors.fleet.FleetSlot` pickles ``row``: the plain
        values and bytes :func:`_rebuild` makes the per-reading detector from.

        Pickling these instead of the materialised detector's objects (a dict of deques,
        numpy arrays) takes about a third of the time; they unpickle as the same
        :class:`CalibratedDetector`.
        """
        return _rebuild, record(self, row)

    # --- one round ---------------------------------------------------------------------------

    def _smooth(self, rows: Array, values: Array) -> Array:
        window = self.settings.smooth
        if window == 1:
            return values
        a = self.rows.arrays
        hpos, hlen = a["hpos"].take(rows), a["hlen"].take(rows)
        # a slot not yet filled holds 0.0 (rows are zeroed), so subtracting it changes nothing
        slots = rows * window + hpos
        history = a["hist"].view()
        history.shape = (-1, values.shape[1])  # a view of the row array, never a copy
        total = a["sums"].take(rows, axis=0) + values
        total -= history.take(slots, axis=0)
        a["sums"][rows] = total
        history[slots] = values
        a["hpos"][rows] = (hpos + 1) % window
        length = np.minimum(hlen + 1, window)
        a["hlen"][rows] = length
        smoothed: Array = total / length[:, None]
        return smoothed

    def _refresh(self, rows: Array) -> None:
        a = self.rows.arrays
        stale = rows[a["stale"].take(rows)]
        if not len(stale):
            return
        cov, mean = a["cov"].take(stale, axis=0), a["mean"].take(stale, axis=0)
        floor = (self.settings.min_rel_std * np.abs(mean) + 1e-9) ** 2
        diagonal = cov.diagonal(axis1=1, axis2=2)
        jitter = self.settings.ridge * np.maximum(diagonal, 0.0) + floor
        index = self._diagonal
        cov[:, index, index] = diagonal + jitter
        # one LAPACK call per matrix either way; the stacked call gives the same bits
        a["prec"][stale] = regularised_inverse(cov)
        if all_true(np.isfinite(cov)):
            a["blind"][stale] = False
        else:
            a["blind"][stale] = ~np.isfinite(cov).all(axis=(1, 2))
        a["stale"][stale] = False

    def score(self, rows: Array, values: Array) -> RoundResult:
        a = self.rows.arrays
        rows = rows.astype(np.intp, copy=False)  # (unsigned rows would make float slots)
        if self.compiled:
            return self._score_compiled(rows, values)
        smoothed = self._smooth(rows, values)
        counts = a["count"].take(rows)
        ready_at = self._scorable(rows, counts)
        ready = rows if ready_at is None else rows[ready_at]
        mean = a["mean"].take(ready, axis=0)
        d = (smoothed if ready_at is None else smoothed[ready_at]) - mean
        calibrated, shares, far, tiled, tail = self._score_ready(ready, d, mean)
        offsets = (d, tiled, mean, counts) if ready_at is None else None  # learn needs them
        scored = (calibrated, shares, far)
        return self._spread(rows, values, ready_at, scored, (smoothed, tail, offsets))

    def _score_compiled(self, rows: Array, values: Array) -> RoundResult:
        """:meth:`score` by the compiled kernel (the precisions refreshed first: the
        smoother's step, which the numpy path takes first, touches none of what that reads)."""
        a, s = self.rows.arrays, self.settings
        ready_at = self._scorable(rows, a["count"].take(rows))
        ready = np.ones(len(rows), dtype=np.bool_)
        if ready_at is not None:
            ready[:] = False
            ready[ready_at] = True
        smoothed, raws, terms, far = score_round(
            rows,
            np.ascontiguousarray(values, dtype=np.float64),
            ready,
            a["hist"],
            a["hpos"],
            a["hlen"],
            a["sums"],
            a["mean"],
            a["cov"],
            a["prec"],
            s.smooth,
            s.min_rel_std,
            s.outlier_z,
        )
        at = slice(None) if ready_at is None else ready_at
        scored_rows = rows[at]
        if not len(scored_rows):
            scored: tuple[list[float], list[Contribution], list[bool]] = ([], [], [])
            tail: _Tails = (scored_rows, None, None, None)
        else:
            calibrated, tail = self._calibrate(scored_rows, raws[at])
            scored = (calibrated, round_shares(self.channels, terms[at]), far[at].tolist())
        return self._spread(rows, values, ready_at, scored, (smoothed, tail, None))

    def _spread(
        self,
        rows: Array,
        values: Array,
        ready_at: Array | None,
        scored: tuple[list[float], list[Contribution], list[bool]],
        context: tuple[Array, _Tails, Any],
    ) -> RoundResult:
        """The round's result from the calibrated scores, contributions and outliers of the
        rows at ``ready_at`` (``None``: every row): as they are when every row scored, else
        0.0, none and not an outlier for the others; a frozen channel then scores 1.0 and is
        named, as in ``CalibratedDetector``. ``context``: the smoothed readings, what learning
        the posts takes and (or ``None``) the offsets :meth:`learn` reuses."""
        a, k = self.rows.arrays, len(rows)
        calibrated, shares, far = scored
        smoothed, tail, offsets = context
        pending: Array | None = None  # which rows scored (``None``: all)
        if ready_at is None:  # the lists as they are
            scores, contributions, outliers = calibrated, shares, far
        else:
            pending = np.zeros(k, dtype=np.bool_)
            pending[ready_at] = True
            scores, outliers = [0.0] * k, [False] * k
            contributions = [{} for _ in range(k)]
            for i, at in enumerate(ready_at.tolist()):
                scores[at], contributions[at], outliers[at] = calibrated[i], shares[i], far[i]
        if self.stuck is not None:
            for i, stuck in self.stuck.observe(a, rows, values).items():
                scores[i], contributions[i] = 1.0, stuck_shares(stuck)
        return RoundResult(
            scores, contributions, outliers, (rows, smoothed, pending, tail, offsets)
        )

    def _score_ready(
        self, ready: Array, d: Array, mean: Array
    ) -> tuple[list[float], list[Contribution], list[bool], Array, _Tails]:
        """The calibrated scores, contributions and outliers of the ready rows whose readings
        are ``d`` off their means ``mean``; the offsets tiled (for :meth:`learn`) and what
        learning their tail posts takes."""
        a, c = self.rows.arrays, len(self.channels)
        if not len(ready):
            return [], [], [], d, (ready, None, None, None)
        tiled = _tiled(d, c)
        products = a["prec"].take(ready, axis=0).reshape(-1, c * c) * tiled
        pd = last_axis_sums(products.reshape(-1, c, c))  # contiguous: not 8-wide broadcasts
        terms = d * pd
        raws = np.sqrt(np.maximum(last_axis_sums(terms), 0.0))
        floor = (self.settings.min_rel_std * np.abs(mean) + 1e-9) ** 2
        variance = self._variances(ready)
        max_z = last_axis_max(np.abs(d) / np.sqrt(np.maximum(variance, floor)))
        far: list[bool] = (max_z > self.settings.outlier_z).tolist()
        shares = round_shares(self.channels, np.abs(terms))
        calibrated, tail = self._calibrate(ready, raws)
        return calibrated, shares, far, tiled, tail

    def _scorable(self, rows: Array, counts: Array) -> Array | None:
        """The positions in ``rows`` of the rows ready (precisions refreshed) and not blind
        (as ``OnlineMahalanobis._scorable``: a blind row cannot score, as before it was ready);
        ``None`` when that is every row (the usual round: no positions made). ``counts``: the
        rows' learned counts."""
        a = self.rows.arrays
        counted = counts > len(self.channels) + 1
        if all_true(counted):
            self._refresh(rows)
            blind = a["blind"].take(rows)
            return (~blind).nonzero()[0] if any_true(blind) else None
        ready_at = counted.nonzero()[0]
        if len(ready_at):
            ready = rows[ready_at]
            self._refresh(ready)
            blind = a["blind"][ready]
            if any_true(blind):
                ready_at = ready_at[~blind]
        return ready_at

    def _variances(self, rows: Array) -> Array:
        """The covariance diagonals of ``rows`` (without gathering the whole matrices)."""
        cov = self.rows.arrays["cov"]
        c = len(self.channels)
        diagonals: Array = cov.reshape(len(cov), c * c)[:, :: c + 1][rows]
        return diagonals

    def _calibrate(self, ready: Array, raws: Array) -> tuple[list[float], _Tails]:
        """The posts' scores of the ready rows' raw scores, in [0, 1], and what learning the
        posts takes."""
        tails, untailed = self.tails, self._untailed
        if tails is not None and not untailed:  # the default calibration: arrays only
            scores, coded, places = tails.score(ready, raws)
            return scores, (ready, None, coded, places)
        rows, raw = ready.tolist(), raws.tolist()
        scores = [0.0] * len(rows)
        held = np.array([row not in untailed for row in rows], dtype=np.bool_)
        for i in np.flatnonzero(~held).tolist():
            scores[i] = min(1.0, max(0.0, self._posts[rows[i]].score(raw[i])))
        if tails is None or not any_true(held):
            return scores, (ready, held, None, None)
        probabilities, coded, places = tails.score(ready[held], raws[held])
        for i, probability in zip(np.flatnonzero(held).tolist(), probabilities, strict=True):
            scores[i] = probability
        return scores, (ready, held, coded, places)

    def learn(self, result: RoundResult, learn: Array) -> None:
        rows, smoothed, pending, (ready, held, coded, places), offsets = result.context
        a = self.rows.arrays
        everyone = all_true(learn)
        target = rows if everyone else rows[learn]
        if not len(target):
            return
        if self.compiled:
            learn_round(
                target,
                smoothed if everyone else np.ascontiguousarray(smoothed[learn]),
                a["count"],
                a["mean"],
                a["cov"],
                a["stale"],
                self.settings.forget,
                self._template.refresh,
            )
        else:
            learned = smoothed if everyone else smoothed[learn]
            self._learn_arrays(target, learned, offsets if everyone else None)
        taught = learn if pending is None else learn[pending]  # of the ready rows
        if held is not None:  # the posts kept as objects
            for i in np.flatnonzero(taught & ~held).tolist():
                self._posts[int(ready[i])].learn()
        if coded is not None and places is not None and self.tails is not None:
            self.tails.learn(
                ready if held is None else ready[held],
                coded,
                places,
                taught if held is None else taught[held],
            )
        if self.stuck is not None:
            self.stuck.learn(a, target)

    def _learn_arrays(self, target: Array, smoothed: Array, offsets: Any) -> None:
        """Learn ``target``'s smoothed readings with numpy (``offsets``: what score found
        when every row of the round learns, else ``None``)."""
        a, c = self.rows.arrays, len(self.channels)
        if offsets is not None:  # what score found (the means and counts as then)
            d, tiled, mean, count = offsets
            count = count + 1
        else:
            count = a["count"].take(target) + 1
            mean = a["mean"].take(target, axis=0)
            d = smoothed - mean
            tiled = _tiled(d, c)
        a["count"][target] = count
        weight = np.maximum(1.0 / count, self.settings.forget)
        w = weight[:, None]
        a["mean"][target] = mean + w * d
        # (1 - w) * (cov + w * outer), in place on the gathered copies: the same operations
        outer = d.repeat(c, axis=1) * tiled  # row-major d_i * d_j
        outer *= w
        cov = a["cov"].view()
        cov.shape = (-1, c * c)  # raises where reshape would copy (and lose the writes)
        gathered = cov.take(target, axis=0)
        gathered += outer
        gathered *= 1.0 - w
        cov[target] = gathered
        a["stale"][target[count % self._template.refresh == 0]] = True

    def memory(self) -> dict[str, Any]:
        """Bytes held in arrays (for the profile script)."""
        held = {name: array.nbytes for name, array in self.rows.arrays.items()}
        return held if self.tails is None else {**held, "tails": self.tails.nbytes()}


def _tiled(d: Array, c: int) -> Array:
    """``np.tile(d, c)``: row-major ``d_j`` of each ``(i, j)`` (a repeat, a fifth of the calls).

    >>> _tiled(np.array([[1.0, 2.0]]), 2).tolist()
    [[1.0, 2.0, 1.0, 2.0]]
    """
    tiled: Array = d[:, None, :].repeat(c, axis=1).reshape(len(d), c * c)
    return tiled


def _rebuild(
    version: int,
    name: str,
    channels: tuple[str, ...],
    params: tuple[float, float, float, int, float],
    count: int,
    mean: bytes,
    cov: bytes,
    precision: bytes | None,
    history: bytes,
    sums: bytes,
    post: PostProcessor,
    stuck: StuckWatch | None,
) -> CalibratedDetector:
    """The per-reading detector of a row :func:`~pipeline.detectors.fleet_mahalanobis_rows.record`
    (also unpickling)."""
    if version != RECORD_VERSION:
        raise ValueError(f"unknown mahalanobis row record version {version}")
    forget, ridge, min_rel_std, smooth, outlier_z = params
    maha = OnlineMahalanobis(forget, ridge, min_rel_std)
    c = len(channels)
    if count:
        maha.channels, maha.count = channels, count
        maha._mean = np.frombuffer(mean, dtype=np.float64).copy()
        maha._cov = np.frombuffer(cov, dtype=np.float64).reshape(c, c).copy()
        if precision is not None:
            maha._precision = np.frombuffer(precision, dtype=np.float64).reshape(c, c).copy()
    detector = CalibratedDetector(name, maha, post, smooth, outlier_z, stuck)
    if history:
        rows = np.frombuffer(history, dtype=np.float64).reshape(-1, c).T.tolist()
        totals = np.frombuffer(sums, dtype=np.float64).tolist()
        smoother = detector._smoother
        for j, channel in enumerate(channels):
            smoother._history[channel] = deque(rows[j])
            smoother._sums[channel] = totals[j]
    return detector
