"""Post-processing: raw deviation scores -> a calibrated anomaly probability in [0, 1].

- :class:`TailCalibrator`: the fraction of recent *learned* raw scores a raw score exceeds (an
  empirical tail probability), so one threshold means the same on every asset.
- :class:`AnomalyLikelihood`: Numenta's anomaly likelihood. The short-term mean of the last
  ``short`` raw scores is compared with the long-term distribution of such means (a Gaussian
  over the last ``long`` learned ones): the probability is ``Phi(z)`` or, with ``log_scale``,
  Numenta's log scale ``min(1, -log10(1 - Phi(z)) / 10)``. A single spike moves the
  short mean little; a sustained rise moves it far, which is what lifts HTM on NAB.

Both keep the stream part of their state (the last raw score, the short window) in ``score``
and add to the long-term distribution only in ``learn``, so anomalies never teach them.

Examples
--------
>>> likelihood = AnomalyLikelihood(short=1, long=100)
>>> for i in range(100):
...     _ = likelihood.score(1.0 + (i % 5) * 0.1)
...     likelihood.learn()
>>> round(likelihood.score(1.2), 2), likelihood.score(5.0) > 0.999
(0.5, True)
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

from pipeline.detectors.tail_window import TailWindow, code
from pipeline.model import ScoreCalibrator

__all__ = [
    "AnomalyLikelihood",
    "PostProcessor",
    "TailCalibrator",
    "build_post",
]


class TailCalibrator:
    """Empirical tail probability of a raw score among the last ``window`` learned ones.

    The window is a :class:`~pipeline.detectors.tail_window.TailWindow` (2 bytes a score,
    dropped a quarter at a time); snapshots of the older exact window
    (:class:`~pipeline.model.ScoreCalibrator`) are converted when they are restored.

    >>> tail = TailCalibrator(window=4)
    >>> for raw in (0.1, 0.2, 0.3, 0.4):
    ...     _ = tail.score(raw)
    ...     tail.learn()
    >>> tail.score(0.35), tail.score(0.9)
    (0.75, 1.0)
    """

    def __init__(self, window: int, min_count: int = 30) -> None:
        self.window = window
        self.min_count = min(min_count, window)
        self._calibrator = TailWindow(window)
        self._last: float | None = None
        self._count = 0

    def __setstate__(self, state: dict[str, Any]) -> None:
        calibrator = state["_calibrator"]
        if isinstance(calibrator, ScoreCalibrator):  # a snapshot from before TailWindow
            state["_calibrator"] = TailWindow.from_scores(
                calibrator.window, calibrator.recent().tolist()
            )
        self.__dict__.update(state)

    def score(self, raw: float) -> float:
        return self.score_coded(raw, code(raw))

    def score_coded(self, raw: float, coded: int) -> float:
        """:meth:`score` of ``raw``, whose :func:`code` is ``coded``."""
        self._last = raw
        if self._count < self.min_count:
            return 0.0
        return self._calibrator.probability_of_code(coded)

    def learn(self) -> None:
        if self._last is not None:
            self.learn_coded(code(self._last))

    def learn_coded(self, coded: int) -> None:
        """:meth:`learn`, given :func:`code` of the raw score last scored."""
        if self._last is not None:
            self._calibrator.learn_code(coded)
            self._count += 1


class AnomalyLikelihood:
    """``Phi((mean of the last short raw scores - mu) / sigma)`` over the last ``long`` means."""

    def __init__(self, short: int, long: int, min_count: int = 30, log_scale: bool = False) -> None:
        self.short = short
        self.long = long
        self.min_count = min_count
        self.log_scale = log_scale
        self._recent: deque[float] = deque()
        self._recent_sum = 0.0
        self._means: deque[float] = deque()
        self._sum = 0.0
        self._sum_sq = 0.0
        self._last: float | None = None

    def score(self, raw: float) -> float:
        self._recent.append(raw)
        self._recent_sum += raw
        if len(self._recent) > self.short:
            self._recent_sum -= self._recent.popleft()
        average = self._recent_sum / len(self._recent)
        self._last = average
        count = len(self._means)
        if count < self.min_count:
            return 0.0
        mean = self._sum / count
        var = max(self._sum_sq / count - mean * mean, 0.0)
        sigma = max(math.sqrt(var), 1e-6 * (abs(mean) + 1e-6))
        z = (average - mean) / (sigma * math.sqrt(2.0))
        if not self.log_scale:
            return 0.5 * math.erfc(-z)
        # Numenta's log scale: the upper tail q as min(1, -log10(q) / 10), so 0.5 is q = 1e-5
        # and 1.0 needs q <= 1e-10; extreme readings stay distinguishable instead of all 1.0
        tail = max(0.5 * math.erfc(z), 1e-300)
        return min(1.0, -math.log10(tail) / 10.0)

    def learn(self) -> None:
        if self._last is None:
            return
        self._means.append(self._last)
        self._sum += self._last
        self._sum_sq += self._last * self._last
        if len(self._means) > self.long:
            old = self._means.popleft()
            self._sum -= old
            self._sum_sq -= old * old


PostProcessor = TailCalibrator | AnomalyLikelihood


def build_post(kind: str, window: int, short: int) -> PostProcessor:
    """The post-processor named ``kind`` (``tail``, ``likelihood`` or ``loglikelihood``)."""
    if kind in ("likelihood", "loglikelihood"):
        return AnomalyLikelihood(short=short, long=window, log_scale=kind == "loglikelihood")
    return TailCalibrator(window)
