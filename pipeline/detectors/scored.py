"""Detectors built from a raw deviation score and a post-processor, and HST on features.

:class:`CalibratedDetector` smooths each channel (optionally), asks a raw detector
(:class:`~pipeline.detectors.robust.RobustZ` or
:class:`~pipeline.detectors.mahalanobis.OnlineMahalanobis`) how far the reading is from what
it learned, and turns that into a probability with a post-processor (tail probability or
anomaly likelihood). :class:`HSTFeatures` runs the existing HalfSpaceTrees model on the
``features`` stage (value, delta, rolling mean/std of each channel).

Examples
--------
>>> from pipeline.detectors.calibration import TailCalibrator
>>> from pipeline.detectors.robust import RobustZ
>>> detector = CalibratedDetector("robust", RobustZ(50), TailCalibrator(100), smooth=1)
>>> for i in range(100):
...     x = {"t": 20.0 + (i % 4) * 0.1}
...     _ = detector.score_one(x)
...     detector.learn_one(x)
>>> detector.score_one({"t": 20.1}) < 0.9, detector.score_one({"t": 30.0})
(True, 1.0)
"""

from __future__ import annotations

from typing import Protocol

from pipeline.detectors.base import shares
from pipeline.detectors.calibration import PostProcessor
from pipeline.detectors.features import FeatureStage, Smoother
from pipeline.detectors.stuck import StuckWatch, stuck_shares
from pipeline.model import AssetModel
from pipeline.settings import ModelSettings

__all__ = ["CalibratedDetector", "HSTFeatures", "RawDetector"]


class RawDetector(Protocol):
    """A deviation score with no fixed scale (0 = typical; ``None`` until it has learned enough)."""

    def raw_one(self, x: dict[str, float]) -> float | None: ...
    def learn_one(self, x: dict[str, float]) -> None: ...
    def deviations(self, x: dict[str, float]) -> dict[str, float]: ...
    def max_z(self, x: dict[str, float]) -> float: ...


class CalibratedDetector:
    """Smoothing | raw detector | post-processor; outliers beyond ``outlier_z`` never learned.

    With ``stuck`` a channel that always changed and now repeats one value (a frozen sensor)
    scores 1.0, whatever the raw detector says, and is named by ``contributions``.
    """

    def __init__(
        self,
        name: str,
        raw: RawDetector,
        post: PostProcessor,
        smooth: int = 1,
        outlier_z: float = float("inf"),
        stuck: StuckWatch | None = None,
    ) -> None:
        self.name = name
        self.raw = raw
        self.post = post
        self.outlier_z = outlier_z
        self.stuck = stuck
        self._smoother = Smoother(smooth)
        self._last_in: dict[str, float] | None = None
        self._last_smooth: dict[str, float] = {}
        self._post_pending = False
        self._stuck_now: list[str] = []

    def _smoothed(self, x: dict[str, float]) -> dict[str, float]:
        return self._last_smooth if x == self._last_in else x

    def score_one(self, x: dict[str, float]) -> float:
        self._last_in = x
        self._stuck_now = self.stuck.observe(x) if self.stuck is not None else []
        self._last_smooth = self._smoother.smooth_one(x)
        raw = self.raw.raw_one(self._last_smooth)
        self._post_pending = raw is not None
        if self._stuck_now:
            if raw is not None:
                self.post.score(raw)  # keep the post-processor's stream state in step
            return 1.0
        if raw is None:  # the raw detector has not learned enough yet
            return 0.0
        return min(1.0, max(0.0, self.post.score(raw)))

    def learn_one(self, x: dict[str, float]) -> None:
        if self.stuck is not None:
            self.stuck.learn(x)
        self.raw.learn_one(self._smoothed(x))
        if self._post_pending:
            self.post.learn()
            self._post_pending = False

    def contributions(self, x: dict[str, float]) -> dict[str, float]:
        if self._stuck_now and x == self._last_in:
            return stuck_shares(self._stuck_now)
        return shares(self.raw.deviations(self._smoothed(x)))

    def is_outlier(self, x: dict[str, float]) -> bool:
        return self.raw.max_z(self._smoothed(x)) > self.outlier_z


class HSTFeatures:
    """The ``hst`` model (scaler | HalfSpaceTrees | calibration) on lags and rolling stats."""

    def __init__(self, settings: ModelSettings) -> None:
        self.stage = FeatureStage(settings.features, settings.feature_window)
        self.model = AssetModel(settings)
        self.name = f"hst_features({','.join(settings.features)};{self.model.name})"
        self._last_in: dict[str, float] | None = None
        self._last_features: dict[str, float] = {}

    def _features(self, x: dict[str, float]) -> dict[str, float]:
        return self._last_features if x == self._last_in else self.stage.transform_one(x)

    def score_one(self, x: dict[str, float]) -> float:
        features = self.stage.transform_one(x)
        self.stage.update(x)
        self._last_in, self._last_features = x, features
        return self.model.score_one(features)

    def learn_one(self, x: dict[str, float]) -> None:
        self.model.learn_one(self._features(x))

    def contributions(self, x: dict[str, float]) -> dict[str, float]:
        return shares(self.model.contributions(self._features(x)))

    def is_outlier(self, x: dict[str, float]) -> bool:
        return self.model.is_outlier(self._features(x))
