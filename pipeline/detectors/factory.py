"""``build_detector(settings)``: the detector that ``ModelSettings.kind`` names.

Examples
--------
>>> from pipeline.settings import ModelSettings
>>> build_detector(ModelSettings(kind="mahalanobis")).name
'mahalanobis(smooth=5,tail,stuck=50)'
>>> build_detector(ModelSettings(kind="robust", smooth=1, drift=True)).name
'drift(robust(window=500,smooth=1,tail,stuck=50))'
"""

from __future__ import annotations

from pipeline.detectors.artime import ARTime
from pipeline.detectors.artime_peek import ARTimeAnyPhase
from pipeline.detectors.base import Detector
from pipeline.detectors.calibration import build_post
from pipeline.detectors.confirmed import Confirmed
from pipeline.detectors.drift import DriftAdaptive
from pipeline.detectors.ensemble import Ensemble
from pipeline.detectors.extremes import Extremes
from pipeline.detectors.mahalanobis import OnlineMahalanobis
from pipeline.detectors.refractory import Refractory
from pipeline.detectors.robust import RobustZ
from pipeline.detectors.scored import CalibratedDetector, HSTFeatures
from pipeline.detectors.stuck import StuckWatch
from pipeline.detectors.zscore import ZScore
from pipeline.model import AssetModel
from pipeline.settings import ModelSettings

__all__ = ["build_base", "build_detector"]


def build_detector(settings: ModelSettings) -> Detector:
    """A fresh detector for one asset, wrapped for regime changes when ``settings.drift``,
    then in its refractory period when ``settings.refractory_level`` is set (outside the drift
    wrapper, which must see every high score to notice a new regime)."""
    detector = DriftAdaptive(settings) if settings.drift else build_base(settings)
    if settings.refractory_level is None:
        return detector
    return Refractory(
        detector, settings.refractory_level, settings.refractory_hold, settings.learn_anomalies
    )


def build_base(settings: ModelSettings) -> Detector:
    """The detector of ``settings.kind`` without drift adaptation or refractory period."""
    if settings.kind == "ensemble":
        return Ensemble([_member(settings, kind) for kind in settings.members])
    return _member(settings, settings.kind)


def _member(settings: ModelSettings, kind: str) -> Detector:
    if kind == "hst":
        return AssetModel(settings)
    if kind == "hst_features":
        return HSTFeatures(settings)
    if kind == "extremes":
        return _extremes(settings)
    if kind == "artime":
        return _artime(settings)
    if kind == "extremes_artime":
        second = _artime(settings)
        if settings.artime_any_phase:
            second = ARTimeAnyPhase(
                settings.artime_probation,
                settings.artime_margin,
                settings.artime_categories,
                settings.artime_below,
            )
        return Confirmed(
            _extremes(settings),
            second,
            settings.artime_gate,
            settings.artime_weight,
            settings.artime_lag,
        )
    post = build_post(settings.calibration, settings.calibration_window, settings.likelihood_short)
    suffix = f"smooth={settings.smooth},{settings.calibration}"
    stuck = None if settings.stuck_after is None else StuckWatch(settings.stuck_after)
    suffix += "" if stuck is None else f",stuck={settings.stuck_after}"
    if kind == "robust":
        raw = RobustZ(settings.robust_window, settings.min_rel_std)
        name = f"robust(window={settings.robust_window},{suffix})"
        return CalibratedDetector(name, raw, post, settings.smooth, settings.outlier_z, stuck)
    if kind == "mahalanobis":
        maha = OnlineMahalanobis(settings.forget, settings.ridge, settings.min_rel_std)
        name = f"mahalanobis({suffix})"
        return CalibratedDetector(name, maha, post, settings.smooth, settings.outlier_z, stuck)
    if kind == "zscore":
        return ZScore(settings.min_rel_std, settings.outlier_z)
    raise ValueError(f"unknown detector kind {kind!r}")


def _extremes(settings: ModelSettings) -> Extremes:
    season_ms = None if settings.season_s is None else round(settings.season_s * 1000)
    return Extremes(
        window=settings.extremes_window,
        mean_window=settings.extremes_mean,
        season_ms=season_ms,
        suppress=settings.suppress,
        excess_scale=settings.excess_scale,
        min_rel_range=settings.min_rel_std,
        seasons=settings.seasons,
        global_suppress=settings.suppress_global,
        season_weight=settings.season_weight,
    )


def _artime(settings: ModelSettings) -> ARTime:
    return ARTime(settings.artime_probation, settings.artime_margin, settings.artime_categories)
