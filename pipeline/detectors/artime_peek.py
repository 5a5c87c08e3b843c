"""ARTime's opinion of the latest reading, whatever the phase of its downsampling step.

``artime`` (:mod:`~pipeline.detectors.artime`) decides once per downsampled step, on the
step's last reading, so a report it agrees with can land a reading or two away from the
reading another detector reports, and which of the two it is depends on where the file
happened to start. :func:`peek` asks, on any reading, what ARTime would score if its step
ended there: the block of the last ``step`` readings downsampled, levelled and appended to the
window, matched against the categories; a mismatch (below the lower vigilance) that ARTime
would report now (the same mask) scores its confidence. Nothing changes: no category is
learned or touched, no level counted, the running average not moved. On the step's last
reading it is ARTime's own score (the window was just decided). :class:`ARTimeAnyPhase` is
ARTime with :meth:`~ARTimeAnyPhase.opinion`: the largest peek over the latest reading's
channels, computed only when asked (``Confirmed`` asks only where the primary reports),
counting only a window whose best match is below ``below`` (an absolute similarity: where the
series is noisy the adaptive lower vigilance sits high, around 0.9, and a window just under it
is no news).

This module reads ARTime's state (its private fields) and never writes it, so ARTime's own
scores are unchanged.

Examples
--------
>>> import math
>>> detector = ARTimeAnyPhase(probation=200)
>>> for i in range(600):
...     _ = detector.score_one({"t": math.sin(i / 5.0)})
>>> detector.opinion()
0.0
>>> _ = detector.score_one({"t": 5.0})
>>> detector.opinion() > 0.5
True
"""

from __future__ import annotations

import math

import numpy as np

from pipeline.detectors.art import complement_code
from pipeline.detectors.artime import ARTime, ARTimeChannel, _confidence
from pipeline.detectors.artime_features import window_features

__all__ = ["ARTimeAnyPhase", "peek"]


def peek(channel: ARTimeChannel, below: float = 1.0) -> float:
    """ARTime's score if its step ended at the latest reading, where its best match is below
    ``below`` (0 in the probation, and 0 on the step's last reading: ARTime's own score of it
    stands)."""
    down, i = channel._down, channel._i + 1
    if down._count % down.step == 0 or channel._probation is not None or i <= channel.trend:
        return 0.0
    recent = list(channel._recent)[1:] + [channel._levels.peek(down.peek())]
    art = channel._art
    res = art.best_match(complement_code(window_features(np.array(recent))))
    if not (res.mismatch and res.similarity < below):
        return 0.0
    masked = channel.masked_at(i)  # as this step would leave it
    if not channel._reportable(res.similarity, i - channel._last_anomaly, masked):
        return 0.0
    return _confidence(res, art.rho_lb, art.rho_ub)


class ARTimeAnyPhase(ARTime):
    """``artime`` whose :meth:`opinion` of the latest reading ignores its step's phase."""

    def __init__(
        self,
        probation: int = 300,
        margin: float = 1.0,
        categories: int = 200,
        below: float = 1.0,
    ) -> None:
        super().__init__(probation, margin, categories)
        self.below = below
        self.name = f"anyphase_{self.name[:-1]},below={below:g})"
        self._latest: list[str] = []

    def score_one(self, x: dict[str, float]) -> float:
        score = super().score_one(x)
        self._latest = [name for name, value in x.items() if math.isfinite(value)]
        return score

    def opinion(self) -> float:
        """The largest :func:`peek` over the latest reading's channels (on a step's last
        reading, ARTime's own report, when its similarity is below ``below``)."""
        best = 0.0
        for name in self._latest:
            channel = self._channels[name]
            if channel._down._count % channel._down.step:
                best = max(best, peek(channel, self.below))
            elif channel._last_anomaly_similarity < self.below:
                best = max(best, self._reported.get(name, 0.0))
        return min(1.0, best)
