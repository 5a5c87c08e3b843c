"""The per-asset anomaly model: a min-max scaler with margins, HalfSpaceTrees, a calibrator.

Score then learn, as river does. Three details make HalfSpaceTrees usable on sensor data:

- The scaler maps each channel's learned ``[min, max]`` onto ``[margin, 1 - margin]`` rather
  than ``[0, 1]``: a value beyond anything seen lands in an empty leaf instead of the edge leaf
  that healthy readings fill, so drifts out of the normal range score high.
- The raw tree score is calibrated into the fraction of the asset's recent normal scores it
  exceeds (an empirical tail probability), so one threshold means the same on every asset.
- The model keeps a running mean and variance per channel so it can say which channels moved
  most (``contributions``: each channel's share of the summed absolute z-scores).

Examples
--------
>>> from pipeline.settings import ModelSettings
>>> model = AssetModel(ModelSettings(window_size=10, n_trees=5, height=3))
>>> for i in range(50):
...     model.learn_one({"t": 20.0 + (i % 3) * 0.1})
>>> 0.0 <= model.score_one({"t": 20.1}) <= 1.0
True
>>> model.contributions({"t": 80.0})
{'t': 1.0}
"""

from __future__ import annotations

import bisect
from array import array
from typing import Any

from river import anomaly

from pipeline.moments import RunningMoments
from pipeline.settings import ModelSettings

__all__ = ["AssetModel", "MarginMinMaxScaler", "ScoreCalibrator"]


class AssetModel:
    """One asset's online detector. Hyperparameters come from :class:`ModelSettings`."""

    def __init__(self, settings: ModelSettings) -> None:
        self.settings = settings
        self.name = (
            f"hst(n_trees={settings.n_trees},height={settings.height},"
            f"window={settings.window_size})"
        )
        self._scaler = MarginMinMaxScaler(margin=settings.scaler_margin)
        self._trees = anomaly.HalfSpaceTrees(
            n_trees=settings.n_trees,
            height=settings.height,
            window_size=settings.window_size,
            seed=settings.seed,
        )
        self._calibrator = ScoreCalibrator(settings.calibration_window)
        self._last_raw: float | None = None
        self._channel_stats: dict[str, RunningMoments] = {}

    def score_one(self, x: dict[str, float]) -> float:
        """Anomaly score in [0, 1] of ``x`` under what the model has learned.

        The trees' raw score, calibrated into a tail probability, damped by how far the most
        deviant channel is from its mean: ``min(1, max|z| / confirm_z)``. A reading scores
        high only when the trees find it unusual and some channel really moved, which keeps
        healthy excursions to unseen but ordinary levels from alarming.
        """
        scaled = self._scaler.transform_one(x)
        raw = float(self._trees.score_one(scaled))  # type: ignore[no-untyped-call]
        self._last_raw = raw
        evidence = min(1.0, self.max_abs_z(x) / self.settings.confirm_z)
        return self._calibrator.tail_probability(raw) * evidence

    def max_abs_z(self, x: dict[str, float]) -> float:
        """The largest absolute z-score of a channel of ``x`` (0 before enough readings)."""
        largest = 0.0
        for name, value in x.items():
            moments = self._channel_stats.get(name)
            if moments is None or moments.count < _MIN_COUNT_FOR_Z:
                continue
            largest = max(largest, abs(value - moments.mean) / (moments.std() or 1e-9))
        return largest

    def is_outlier(self, x: dict[str, float]) -> bool:
        """Whether a channel of ``x`` lies beyond ``outlier_z`` standard deviations.

        Outliers are scored but never learned, so a fault cannot stretch the scaler's range
        and teach the trees that it is normal.
        """
        return self.max_abs_z(x) > self.settings.outlier_z

    def learn_one(self, x: dict[str, float]) -> None:
        """Update the model with ``x`` (call after :meth:`score_one` on the same ``x``)."""
        self._scaler.learn_one(x)
        self._trees.learn_one(self._scaler.transform_one(x))  # type: ignore[no-untyped-call]
        if self._last_raw is not None:
            self._calibrator.learn_one(self._last_raw)
        for name, value in x.items():
            self._channel_stats.setdefault(name, RunningMoments()).update(value)

    def contributions(self, x: dict[str, float]) -> dict[str, float]:
        """Each channel's share of how unusual ``x`` is, by absolute z-score; sums to 1."""
        deviations: dict[str, float] = {}
        for name, value in x.items():
            moments = self._channel_stats.get(name)
            if moments is None or moments.count < 2:
                continue
            deviations[name] = abs(value - moments.mean) / (moments.std() or 1e-9)
        total = sum(deviations.values())
        if total <= 0.0:
            return {}
        return {name: round(dev / total, 4) for name, dev in deviations.items()}


_MIN_COUNT_FOR_Z = 30


class MarginMinMaxScaler:
    """Min-max scaling of each channel onto ``[margin, 1 - margin]``, clipped to ``[0, 1]``.

    >>> scaler = MarginMinMaxScaler(margin=0.25)
    >>> scaler.learn_one({"t": 10.0}); scaler.learn_one({"t": 20.0})
    >>> scaler.transform_one({"t": 15.0}), scaler.transform_one({"t": 40.0})
    ({'t': 0.5}, {'t': 1.0})
    """

    def __init__(self, margin: float = 0.25) -> None:
        self.margin = margin
        self._low: dict[str, float] = {}
        self._high: dict[str, float] = {}

    def learn_one(self, x: dict[str, float]) -> None:
        for name, value in x.items():
            self._low[name] = min(self._low.get(name, value), value)
            self._high[name] = max(self._high.get(name, value), value)

    def transform_one(self, x: dict[str, float]) -> dict[str, float]:
        scaled = {}
        inner = 1.0 - 2.0 * self.margin
        for name, value in x.items():
            low = self._low.get(name, value)
            span = self._high.get(name, value) - low
            unit = (value - low) / span if span > 0.0 else 0.5
            scaled[name] = min(1.0, max(0.0, self.margin + inner * unit))
        return scaled


class ScoreCalibrator:
    """The fraction of the last ``window`` normal raw scores that a raw score exceeds.

    The window is kept as raw doubles (``array("d")``), once in arrival order (a ring) and once
    sorted: 16 bytes a score rather than 40 as Python floats in a deque and a list, which at
    1,000 assets with a full 10,000-score window is 160 MB instead of 400 MB.

    >>> calibrator = ScoreCalibrator(window=4)
    >>> for raw in (0.1, 0.2, 0.3, 0.4, 0.25):
    ...     calibrator.learn_one(raw)
    >>> calibrator.tail_probability(0.35), calibrator.tail_probability(0.9)
    (0.75, 1.0)
    >>> list(calibrator.recent())
    [0.2, 0.3, 0.4, 0.25]
    """

    def __init__(self, window: int) -> None:
        self.window = window
        self._ring = array("d")
        self._head = 0  # the oldest score, once the ring is full
        self._sorted = array("d")

    def recent(self) -> array[float]:
        """The window's scores, oldest first."""
        return self._ring[self._head :] + self._ring[: self._head]

    def __getstate__(self) -> tuple[int, array[float]]:
        # the window once, as raw doubles: no float objects to pickle (snapshots of every
        # asset are taken at every commit)
        return self.window, self.recent()

    def __setstate__(self, state: tuple[int, array[float]] | dict[str, Any]) -> None:
        if isinstance(state, dict):  # pickled as a deque and a sorted list
            self.window = state["window"]
            self._ring, self._sorted = array("d", state["_recent"]), array("d", state["_sorted"])
        else:
            self.window, recent = state
            self._ring, self._sorted = array("d", recent), array("d", sorted(recent))
        self._head = 0

    def learn_one(self, raw: float) -> None:
        bisect.insort(self._sorted, raw)
        if len(self._ring) < self.window:
            self._ring.append(raw)
            return
        oldest = self._ring[self._head]
        self._ring[self._head] = raw
        self._head = (self._head + 1) % self.window
        del self._sorted[bisect.bisect_left(self._sorted, oldest)]

    def tail_probability(self, raw: float) -> float:
        if not self._sorted:
            return 0.0
        return bisect.bisect_left(self._sorted, raw) / len(self._sorted)


_RunningMoments = RunningMoments
"""The name snapshots written before the two Welford classes became one still refer to."""
