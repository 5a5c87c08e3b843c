"""The light detector: each channel's running mean and variance, the largest z-score, calibrated.

``score = erf(max|z| / sqrt(2)) ** C`` over the ``C`` channels: the probability that ``C``
independent Gaussian channels all stay closer to their means than the most deviant one did.
0.999 is then ``|z|`` of about 3.8 on 8 channels. A channel's spread is at least
``min_rel_std`` of its level (sensor resolution). Nothing is scored before ``min_count``
readings are learned. It costs a few array operations per batch in the service
(:mod:`pipeline.detectors.fleet_zscore`), so it is the detector of the pass-through
measurement.

Examples
--------
>>> detector = ZScore()
>>> for i in range(100):
...     x = {"a": 20.0 + (i % 5) * 0.1, "b": 1.0 + (i % 3) * 0.01}
...     _ = detector.score_one(x)
...     detector.learn_one(x)
>>> detector.score_one({"a": 20.2, "b": 1.01}) < 0.9, detector.score_one({"a": 25.0, "b": 1.01})
(True, 1.0)
>>> detector.contributions({"a": 25.0, "b": 1.01})
{'a': 0.9996, 'b': 0.0004}
"""

from __future__ import annotations

import math

from pipeline.detectors.base import RunningMoments, shares

__all__ = ["MIN_COUNT", "ZScore", "calibrate"]

MIN_COUNT = 30
"""Learned readings before a channel's z-score counts."""
_SQRT2 = math.sqrt(2.0)


def calibrate(max_z: float, channels: int) -> float:
    """``erf(max_z / sqrt(2)) ** channels``: the calibrated score of the largest z-score."""
    return float(math.erf(max_z / _SQRT2) ** channels)


class ZScore:
    """Per-channel running z-scores; outliers beyond ``outlier_z`` are never learned."""

    def __init__(self, min_rel_std: float = 0.002, outlier_z: float = 6.0) -> None:
        self.name = "zscore"
        self.min_rel_std = min_rel_std
        self.outlier_z = outlier_z
        self.moments: dict[str, RunningMoments] = {}

    def deviations(self, x: dict[str, float]) -> dict[str, float]:
        """Absolute z-score of each channel of ``x`` that has learned enough."""
        out = {}
        for name, value in x.items():
            moments = self.moments.get(name)
            if moments is None or moments.count < MIN_COUNT:
                continue
            scale = max(moments.std(), self.min_rel_std * abs(moments.mean), 1e-9)
            out[name] = abs(value - moments.mean) / scale
        return out

    def score_one(self, x: dict[str, float]) -> float:
        z = self.deviations(x)
        return calibrate(max(z.values()), len(z)) if z else 0.0

    def learn_one(self, x: dict[str, float]) -> None:
        for name, value in x.items():
            moments = self.moments.get(name)
            if moments is None:
                moments = self.moments[name] = RunningMoments()
            moments.update(value)

    def contributions(self, x: dict[str, float]) -> dict[str, float]:
        return shares(self.deviations(x))

    def is_outlier(self, x: dict[str, float]) -> bool:
        return max(self.deviations(x).values(), default=0.0) > self.outlier_z
