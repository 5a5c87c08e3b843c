"""Online anomaly detectors, one instance per asset, chosen by ``ModelSettings.kind``.

Every detector follows river's protocol (score a reading, then learn it; one reading at a
time; never a later reading) and returns a calibrated probability in [0, 1]:

========================  ================================================================
``kind``                  detector
========================  ================================================================
``hst``                   margin-min-max scaler | HalfSpaceTrees | tail calibration
``hst_features``          the same on the ``features`` stage (delta, rolling mean/std)
``robust``                rolling median/IQR z-scores per channel | calibration
``mahalanobis``           online covariance, Mahalanobis distance | calibration
``ensemble``              mean of the ``members``' probabilities
``extremes``              value, rolling mean, change since a season ago vs their recent
                          range; each event reported once (the NAB configuration)
``zscore``                largest running z-score per channel, calibrated (the light one)
``artime``                adaptive-resonance clusters of downsampled windows; a window no
                          cluster accepts is reported (after ARTime)
``extremes_artime``       ``extremes``, its reports raised where ``artime`` reports too
========================  ================================================================

``calibration`` picks the post-processing (``tail`` or Numenta-style ``likelihood``) and
``drift = true`` wraps any of them in :class:`DriftAdaptive` (ADWIN on the score).

Examples
--------
>>> from pipeline.settings import ModelSettings
>>> detector = build_detector(ModelSettings(kind="robust"))
>>> isinstance(detector, Detector), 0.0 <= detector.score_one({"t": 1.0}) <= 1.0
(True, True)
"""

from __future__ import annotations

from typing import get_args

from pipeline.detectors.base import Detector, TimeAware
from pipeline.detectors.drift import DriftAdaptive
from pipeline.detectors.factory import build_base, build_detector
from pipeline.settings import DetectorKind

__all__ = ["KINDS", "Detector", "TimeAware", "DriftAdaptive", "build_base", "build_detector"]

KINDS: tuple[str, ...] = get_args(DetectorKind)
"""Every value of ``ModelSettings.kind``."""
