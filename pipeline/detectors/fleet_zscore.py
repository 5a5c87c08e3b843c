"""The ``zscore`` detector of a whole fleet in arrays: Welford moments, one row per asset.

Row ``r`` holds each channel's count, mean and sum of squared deviations, as the per-reading
:class:`~pipeline.detectors.zscore.ZScore` holds them in its ``RunningMoments``; every step is
its arithmetic applied element-wise, so scores are identical to it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from pipeline.detectors.base import Detector, RunningMoments
from pipeline.detectors.fleet import RoundResult, RowArrays
from pipeline.detectors.fleet_kernels import zscore_learn, zscore_round
from pipeline.detectors.fleet_math import Array, last_axis_max
from pipeline.detectors.fleet_shares import Contribution, round_shares
from pipeline.detectors.zscore import MIN_COUNT, ZScore
from pipeline.settings import ModelSettings

__all__ = ["ZScoreFleet"]


class ZScoreFleet:
    """Every asset's ``zscore`` detector over ``channels`` (sorted), one row each."""

    def __init__(self, channels: tuple[str, ...], settings: ModelSettings) -> None:
        self.channels = channels
        self.settings = settings
        self.name = "zscore"
        c = len(channels)
        self.rows = RowArrays(
            {"count": ((), np.int64), "mean": ((c,), np.float64), "m2": ((c,), np.float64)}
        )
        self.compiled = c > 0
        """Whether rounds run the compiled kernels (the same bits as the array calls)."""

    def new_row(self) -> int:
        return self.rows.alloc()

    def release(self, row: int) -> None:
        self.rows.free(row)

    def absorb(self, detector: object) -> int | None:
        if not isinstance(detector, ZScore) or not self._fits(detector):
            return None
        row = self.rows.alloc()
        a = self.rows.arrays
        if detector.moments:
            first = detector.moments[self.channels[0]]
            a["count"][row] = first.count
            for j, name in enumerate(self.channels):
                count, mean, m2 = detector.moments[name].__getstate__()
                a["mean"][row, j], a["m2"][row, j] = mean, m2
        return row

    def _fits(self, detector: ZScore) -> bool:
        s = self.settings
        if (detector.min_rel_std, detector.outlier_z) != (s.min_rel_std, s.outlier_z):
            return False
        moments = detector.moments
        if not moments:
            return True
        return set(moments) == set(self.channels) and len({m.count for m in moments.values()}) == 1

    def materialise(self, row: int) -> Detector:
        detector = ZScore(self.settings.min_rel_std, self.settings.outlier_z)
        a = self.rows.arrays
        count = int(a["count"][row])
        if count:
            for j, name in enumerate(self.channels):
                moments = detector.moments[name] = RunningMoments()
                moments.__setstate__((count, float(a["mean"][row, j]), float(a["m2"][row, j])))
        return detector

    def score(self, rows: Array, values: Array) -> RoundResult:
        a = self.rows.arrays
        k = len(rows)
        count = a["count"][rows]
        ready_at = np.flatnonzero(count >= MIN_COUNT)
        ready = self._score_ready(rows[ready_at], count[ready_at], values[ready_at])
        calibrated, shares, far = ready
        if k and len(ready_at) == k:  # every row ready: the lists as they are
            scores, contributions, outliers = calibrated, shares, far
        else:  # rows not ready score 0, with no contributions
            scores, outliers = [0.0] * k, [False] * k
            contributions = [{} for _ in range(k)]
            for i, at in enumerate(ready_at.tolist()):
                scores[at], contributions[at], outliers[at] = calibrated[i], shares[i], far[i]
        return RoundResult(scores, contributions, outliers, (rows, values))

    def _score_ready(
        self, ready: Array, n: Array, values: Array
    ) -> tuple[list[float], list[Contribution], list[bool]]:
        """Calibrated scores, contributions and outlier flags of the ``ready`` rows (with
        ``n`` readings each) for their ``values`` (empty lists when no row is ready)."""
        if not len(ready):
            return [], [], []
        a, min_rel_std = self.rows.arrays, self.settings.min_rel_std
        if self.compiled:
            z, max_z = zscore_round(
                ready.astype(np.intp, copy=False),
                np.ascontiguousarray(values, dtype=np.float64),
                a["count"],
                a["mean"],
                a["m2"],
                min_rel_std,
            )
        else:
            mean = a["mean"][ready]
            std = np.sqrt(a["m2"][ready] / (n - 1)[:, None])
            scale = np.maximum(np.maximum(std, min_rel_std * np.abs(mean)), 1e-9)
            z = np.abs(values - mean) / scale
            max_z = last_axis_max(z)
        channels = len(self.channels)
        # zscore.calibrate() of each, inline (the call cost as much as its arithmetic); the
        # division by sqrt(2) column-wise (the same IEEE quotients)
        erf = math.erf
        calibrated = [erf(value) ** channels for value in (max_z / math.sqrt(2.0)).tolist()]
        far: list[bool] = (max_z > self.settings.outlier_z).tolist()
        return calibrated, round_shares(self.channels, z), far

    def learn(self, result: RoundResult, learn: Array) -> None:
        rows, values = result.context
        target = rows[learn]
        if not len(target):
            return
        a = self.rows.arrays
        if self.compiled:
            learned = values if len(target) == len(rows) else values[learn]
            zscore_learn(
                target.astype(np.intp, copy=False),
                np.ascontiguousarray(learned, dtype=np.float64),
                a["count"],
                a["mean"],
                a["m2"],
            )
            return
        count = a["count"][target] + 1
        a["count"][target] = count
        mean = a["mean"][target]
        delta = values[learn] - mean
        mean = mean + delta / count[:, None]
        a["mean"][target] = mean
        a["m2"][target] = a["m2"][target] + delta * (values[learn] - mean)

    def memory(self) -> dict[str, Any]:
        """Bytes held in arrays (for the profile script)."""
        return {name: array.nbytes for name, array in self.rows.arrays.items()}
