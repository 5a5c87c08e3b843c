"""Regime changes: notice them with river's ADWIN and relearn instead of alarming for ever.

A detector that learns only normal readings locks in after a lasting change of regime (a new
set point, a replaced sensor): every reading is anomalous, none is learned, the alarm never
clears. :class:`DriftAdaptive` feeds the score stream to :class:`river.drift.ADWIN`. When the
score has stayed high for ``patience`` readings and ADWIN has confirmed a change of its mean
during that run, the regime is accepted: the inner detector is rebuilt and learns the next
``relearn`` readings without alarming (score 0), so the alarm clears and the model adapts.

Examples
--------
>>> from pipeline.settings import ModelSettings
>>> settings = ModelSettings(kind="robust", robust_window=50, calibration_window=50,
...                          drift=True, drift_patience=100, relearn=30)
>>> detector = DriftAdaptive(settings)
>>> scores = []
>>> for i in range(600):
...     x = {"t": (0.0 if i < 200 else 50.0) + (i % 5) * 0.1}
...     scores.append(detector.score_one(x))
...     if scores[-1] < 0.99:
...         detector.learn_one(x)
>>> detector.adaptations, max(scores[200:260]) == 1.0, max(scores[-100:]) < 0.99
(1, True, True)
"""

from __future__ import annotations

from river import drift

from pipeline.detectors.base import Detector
from pipeline.settings import ModelSettings

__all__ = ["DriftAdaptive"]

_HIGH = 0.9
"""A score at or above this counts towards the patience of a regime change."""


class DriftAdaptive:
    """Wraps the detector ``build_base(settings)``; rebuilds it after a confirmed regime change."""

    def __init__(self, settings: ModelSettings) -> None:
        from pipeline.detectors.factory import build_base

        self.settings = settings
        self.inner: Detector = build_base(settings)
        self.name = f"drift({self.inner.name})"
        self.adaptations = 0
        self._adwin = drift.ADWIN(delta=settings.drift_delta)  # type: ignore[no-untyped-call]
        self._high_run = 0
        self._confirmed = False
        self._relearning = 0

    def score_one(self, x: dict[str, float]) -> float:
        score = self.inner.score_one(x)
        if self._relearning > 0:
            self._relearning -= 1
            return 0.0
        self._adwin.update(score)  # type: ignore[no-untyped-call]
        if score >= _HIGH:
            self._high_run += 1
            self._confirmed = self._confirmed or self._adwin.drift_detected
        else:
            self._high_run = 0
            self._confirmed = False
        if self._confirmed and self._high_run >= self.settings.drift_patience:
            self._adapt()
        return score

    def _adapt(self) -> None:
        from pipeline.detectors.factory import build_base

        self.inner = build_base(self.settings)
        self.adaptations += 1
        self._adwin = drift.ADWIN(delta=self.settings.drift_delta)  # type: ignore[no-untyped-call]
        self._high_run = 0
        self._confirmed = True  # a high run right after relearning is the same regime change
        self._relearning = self.settings.relearn

    def learn_one(self, x: dict[str, float]) -> None:
        self.inner.learn_one(x)

    def contributions(self, x: dict[str, float]) -> dict[str, float]:
        return self.inner.contributions(x)

    def is_outlier(self, x: dict[str, float]) -> bool:
        return self._relearning == 0 and self.inner.is_outlier(x)
