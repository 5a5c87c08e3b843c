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

from pipeline.detectors.art import DualVigilanceART, Resonance
from pipeline.detectors.artime import ARTime, ARTimeChannel, _confidence
from pipeline.detectors.artime_features import Downsampler, Levels, window_features

__all__ = ["ARTimeAnyPhase", "peek"]


def peek(channel: ARTimeChannel, below: float = 1.0) -> float:
    """ARTime's score if its step ended at the latest reading, where its best match is below
    ``below`` (0 in the probation, and 0 on the step's last reading: ARTime's own score of it
    stands)."""
    down, i = channel._down, channel._i + 1
    if down._count % down.step == 0 or channel._probation is not None or i <= channel.trend:
        return 0.0
    sample = _downsample(down)
    recent = list(channel._recent)[1:] + [_level(channel._levels, sample)]
    res = _match(channel._art, window_features(np.array(recent)))
    if not (res.mismatch and res.similarity < below):
        return 0.0
    if not _reportable(channel, i, res.similarity):
        return 0.0
    return _confidence(res, channel._art.rho_lb, channel._art.rho_ub)


def _reportable(channel: ARTimeChannel, i: int, similarity: float) -> bool:
    """``ARTimeChannel._reportable`` at step ``i``, with the mask as the step would leave it."""
    mask = channel.mask
    masked = channel._masked and not (i > channel.trend + mask and channel._fitted_run >= mask)
    recent = i - channel._last_anomaly <= mask
    if not (masked or recent):
        return True
    return similarity < channel._last_anomaly_similarity * (0.9 if recent else 0.7)


def _downsample(down: Downsampler) -> float:
    """The block's value as :meth:`Downsampler.push` would give it now (the average unmoved)."""
    block = list(down._block)
    mean = sum(block) / len(block)
    average = mean if down._average is None else (down._average + mean) / 2.0
    high, low = max(block), min(block)
    out = low if abs(high - average) < abs(low - average) else high
    return mean if abs(out - mean) < 0.1 * abs(mean) else out


def _level(levels: Levels, value: float) -> float:
    """:meth:`Levels.level` against the current median level, without counting ``value``."""
    span = levels._high - levels._low
    scaled = (value - levels._low) / span if span > 0.0 else 0.0
    level = int(round(min(1.0, max(0.0, scaled)) * levels.levels)) / levels.levels
    median_level = levels._median / levels.levels
    return median_level if abs(level - median_level) < levels.chomp else level


def _match(art: DualVigilanceART, features: np.ndarray) -> Resonance:
    """The best category's similarity to ``features``, as :meth:`DualVigilanceART.train`
    computes it, without learning or marking the category used."""
    n = art._n
    if n == 0:
        return Resonance(0.0, 0.0, False)
    x = np.concatenate((features, 1.0 - features)).astype(np.float32)
    overlap = np.minimum(art._w[:n], x)
    size = (overlap @ art._ones).astype(np.float64)
    energy = (overlap[:, art.dim - 1] + overlap[:, -1]) * art._inv_energy[:n]
    match = (size * art._inv_size[:n]) ** 3 * energy * energy
    best = int(np.argmax(match))
    similarity = float(match[best])
    if not similarity > 0.0:
        return Resonance(0.0, 0.0, True)
    return Resonance(similarity, float(energy[best]), similarity < art.rho_lb)


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
