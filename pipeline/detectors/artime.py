"""``artime``: a new kind of window, judged by adaptive resonance, reported when it appears.

The idea is ARTime's (Mark Hampton, 2021; the NAB leader; https://github.com/markNZed/ARTimeNAB.jl):
windows of a downsampled, quantised series (:mod:`~pipeline.detectors.artime_features`) are
clustered by a dual-vigilance fuzzy ART (:mod:`~pipeline.detectors.art`); a window that no
cluster accepts (similarity below the lower vigilance ``rho_lb``) is an anomaly, scored by how
far below the vigilances it fell and how far its level is from the best cluster's. This is
our own implementation, strictly online; where it differs from ARTime's NAB runner:

- the range that normalises the series is online (ARTime is given the whole file's minimum and
  maximum): the probation's range widened by ``margin`` of its span on each side, grown to
  hold any later reading beyond it;
- the probation is ``probation`` readings (ARTime takes 15 % of the file's length, at most
  750: the length of a file is not known to a stream);
- the category memory is bounded (``categories``; ARTime's grows with the file).

During the probation nothing is scored: its downsampled values are kept, and at its end they
are levelled with the probation's range, the vigilance is set from how alike those windows are
(a throw-away ART with vigilance 0.8 over them, least typical first: the mean similarity of
its second half), and the real ART learns them in order. From then on every downsampled value
is scored and learned in one go (``score_one``; ``learn_one`` learns nothing more: the window
is already a category). The vigilances adapt every half trend window (the probation's
downsampled length) and ``mask`` steps after a report: the upper to the mean similarity so far
(at most 0.97), the lower up towards the trend window's least similarity when it is above it,
else down by half the usual shortfall, never below the mean similarity of past anomalies.
After a vigilance change or a new cluster, reports are masked until ``mask`` windows in a
row fit a known cluster, unless the similarity drops below 0.7 (0.9 within ``mask`` steps of
the last report) times the last report's.

Examples
--------
>>> import math
>>> detector = ARTime(probation=200)
>>> scores = [detector.score_one({"t": math.sin(i / 5.0)}) for i in range(600)]
>>> max(scores[:200])
0.0
>>> flat = [detector.score_one({"t": 3.0}) for _ in range(40)]
>>> max(flat) > 0.5
True
"""

from __future__ import annotations

from collections import deque
from math import isfinite

import numpy as np

from pipeline.detectors.art import CodedArray, DualVigilanceART, Resonance, complement_code
from pipeline.detectors.artime_features import Downsampler, Levels, coded_window, window_features
from pipeline.detectors.base import shares

__all__ = ["ARTime", "ARTimeChannel"]


class ARTimeChannel:
    """ARTime on one channel: the anomaly score of each reading."""

    def __init__(
        self,
        probation: int = 300,
        window: int = 8,
        windows_per_probation: int = 13,
        margin: float = 1.0,
        categories: int = 200,
    ) -> None:
        self.window = window
        self.step = max(1, probation // (window * windows_per_probation))
        self.trend = probation // self.step
        """Downsampled values in the probation: the trend window the vigilances adapt over."""
        self.mask = int(window * 1.5)
        self._down = Downsampler(self.step)
        self._levels = Levels(margin=margin)
        self._art = DualVigilanceART(2 * window, capacity=categories)
        self._recent: deque[float] = deque([0.0] * window, maxlen=window)
        self._start = complement_code(np.zeros(2 * window))
        """The input of the first ``window - 1`` steps (no full window yet)."""
        self._probation: list[float] | None = [] if self.trend > 0 else None
        """The probation's downsampled values; ``None`` once it ended."""
        self._i = 0
        self._similarities: deque[float] = deque([1.0] * (self.trend // 2 + 1))
        self._shortfalls: deque[float] = deque([0.0] * (self.trend + 1))
        self._similarity_sum = 0.0
        self._anomaly_count = 0
        self._anomaly_sum = 0.0
        """The reports' similarities (each lowered while its mask lasts): their mean bounds
        the lower vigilance."""
        self._anomaly_latest = 0.0
        self._last_anomaly = 0
        self._last_anomaly_similarity = 0.0
        self._last_update = 0
        self._masked = False
        self._fitted_run = 0

    def __setstate__(self, state: dict[str, object]) -> None:
        """Restore a snapshot, also one taken before the first steps' input was kept."""
        self.__dict__.update(state)
        if "_start" not in state:
            self._start = complement_code(np.zeros(2 * self.window))

    def score_one(self, value: float) -> float:
        """The score of ``value`` (0 between downsampled steps and during the probation)."""
        self._levels.observe(value)
        sample = self._down.push(value)
        if sample is None:
            return 0.0
        if self._probation is not None:
            self._probation.append(sample)
            if len(self._probation) == self.trend:
                self._end_probation(self._probation)
                self._probation = None
            return 0.0
        return self._detect(self._coded(sample))

    def _coded(self, sample: float) -> CodedArray:
        """The complement-coded features of the window that ``sample`` ends."""
        self._recent.append(self._levels.level(sample))
        self._i += 1
        return self._start if self._i < self.window else coded_window(tuple(self._recent))

    def _end_probation(self, probation: list[float]) -> None:
        self._levels.freeze()
        coded, features = [], []
        for sample in probation:
            coded.append(self._coded(sample))
            if self._i >= self.window:
                features.append(window_features(np.array(self._recent)))
        rho = _initial_vigilance(np.array(features), self.trend)
        self._art.rho_lb = self._art.rho_ub = rho
        self._i = 0
        for x in coded:
            self._i += 1
            self._detect(x)

    def _detect(self, x: CodedArray) -> float:
        i, mask = self._i, self.mask
        since_anomaly = i - self._last_anomaly
        self._masked = self.masked_at(i)
        art = self._art
        rho_lb, rho_ub = art.rho_lb, art.rho_ub
        res = art.train_coded(x, learn=i >= self.window)
        new_cluster = res.mismatch or i < self.window
        self._fitted_run = 0 if new_cluster else self._fitted_run + 1
        self._track(res.similarity, rho_ub, since_anomaly)
        score = 0.0
        if i > self.trend and new_cluster and self._reportable(res.similarity, since_anomaly):
            score = _confidence(res, rho_lb, rho_ub)
            self._anomaly_count += 1
            self._anomaly_sum += res.similarity
            self._anomaly_latest = res.similarity
            self._last_anomaly_similarity = res.similarity
            self._last_anomaly = i
        self._masked = self._masked or new_cluster
        if i > self.trend and (since_anomaly == mask or i - self._last_update >= self.trend // 2):
            self._adapt()
        return score

    def masked_at(self, i: int) -> bool:
        """Whether step ``i`` is judged masked: the mask lifts after ``mask`` fitted steps."""
        mask = self.mask
        return self._masked and not (i > self.trend + mask and self._fitted_run >= mask)

    def _track(self, similarity: float, rho_ub: float, since_anomaly: int) -> None:
        self._similarity_sum += similarity
        self._similarities.popleft()
        self._similarities.append(similarity)
        self._shortfalls.popleft()
        self._shortfalls.append(rho_ub - similarity)
        latest = self._anomaly_latest
        if since_anomaly < self.mask and self._anomaly_count and similarity < latest:
            self._anomaly_sum += similarity - latest
            self._anomaly_latest = similarity

    def _reportable(
        self, similarity: float, since_anomaly: int, masked: bool | None = None
    ) -> bool:
        """Whether a mismatch of ``similarity`` is news (``masked``: the mask to judge with,
        by default the current one)."""
        recent = since_anomaly <= self.mask
        if not ((self._masked if masked is None else masked) or recent):
            return True
        return similarity < self._last_anomaly_similarity * (0.9 if recent else 0.7)

    def _adapt(self) -> None:
        """Move the vigilances with the recent similarities (see the module docstring)."""
        art, i = self._art, self._i
        least = min(self._similarities)
        upper = min(0.97, self._similarity_sum / i)
        lower = art.rho_lb
        if lower <= least:
            lower += (least - lower) * 0.19
        else:
            shortfall = 0.0
            if i > 2 * self.trend:
                gaps = [min(0.37, d) for d in self._shortfalls if d > 0.05]
                shortfall = sum(gaps) / len(gaps) if gaps else 0.0
            lower -= max(0.01, shortfall) / 2.0
            if self._anomaly_count:
                lower = max(self._anomaly_sum / self._anomaly_count, lower)
        art.rho_lb, art.rho_ub = min(upper, lower), upper
        self._last_update = i
        self._masked = True


def _confidence(res: Resonance, rho_lb: float, rho_ub: float) -> float:
    """How far below both vigilances the window fell, plus how far off its level is."""
    similarity = min(0.999, res.similarity)
    gap = 1.0 - similarity
    below_ub = (rho_ub - similarity) / gap
    below_lb = (rho_lb - similarity) / gap
    return min(1.0, max(0.0, 0.35 * below_ub + 0.65 * below_lb + 1.5 * (1.0 - res.energy)))


def _initial_vigilance(features: np.ndarray, trend: int, rho: float = 0.8) -> float:
    """The mean similarity of the second half of a trial ART run, least typical window first."""
    norms = np.linalg.norm(features, axis=1)
    safe = np.where(norms > 0.0, norms, 1.0)
    cosine = (features @ features.T) / np.outer(safe, safe)
    empty = norms == 0.0
    cosine[empty, :] = 1.0 - norms[None, :]
    cosine[:, empty] = 1.0 - norms[:, None]
    np.fill_diagonal(cosine, 1.0)
    order = np.argsort(cosine.sum(axis=0), kind="stable")
    trial = DualVigilanceART(features.shape[1], rho, rho)
    similarities = [trial.train(features[k]).similarity for k in order]
    return float(np.mean(similarities[trend // 2 - 1 :]))


class ARTime:
    """``artime`` on every channel of a reading; the reading's score is the largest."""

    def __init__(self, probation: int = 300, margin: float = 1.0, categories: int = 200) -> None:
        self.probation = probation
        self.margin = margin
        self.categories = categories
        self.name = f"artime(probation={probation},margin={margin:g},categories={categories})"
        self._channels: dict[str, ARTimeChannel] = {}
        self._reported: dict[str, float] = {}
        """The channels that reported (a non-zero score) on the latest reading."""

    def score_one(self, x: dict[str, float]) -> float:
        reported: dict[str, float] = {}
        top = None  # the largest score (the first of equals, as ``max`` keeps)
        for name, value in x.items():
            if not isfinite(value):
                continue
            channel = self._channels.get(name)
            if channel is None:
                channel = self._channels[name] = ARTimeChannel(
                    self.probation, margin=self.margin, categories=self.categories
                )
            score = channel.score_one(value)
            if score > 0.0:
                reported[name] = score
            if top is None or score > top:
                top = score
        self._reported = reported
        return 0.0 if top is None else top

    def learn_one(self, x: dict[str, float]) -> None:
        """Nothing more: ``score_one`` learned the window already (ART learns as it matches)."""

    def contributions(self, x: dict[str, float]) -> dict[str, float]:
        """The reporting channels' shares of the latest reading's reports (a window is new
        once, then learned: nothing when no channel reported)."""
        return shares(self._reported)

    def is_outlier(self, x: dict[str, float]) -> bool:
        return False
