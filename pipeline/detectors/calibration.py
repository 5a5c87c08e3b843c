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
from array import array
from bisect import bisect_left
from collections import deque
from typing import Any

from pipeline.detectors.tail_window import TailWindow, code
from pipeline.model import ScoreCalibrator

__all__ = [
    "AnomalyLikelihood",
    "PostProcessor",
    "TailCalibrator",
    "build_post",
    "learn_tails",
    "score_tails",
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


def score_tails(
    posts: list[TailCalibrator], raws: list[float], coded: list[int], places: list[int]
) -> list[float]:
    """``posts[i].score(raws[i])`` for each ``i``, given :func:`code` of each raw (a fleet's round).

    Each code's insertion point in its window's newest block is appended to ``places`` (an
    out-list): :func:`learn_tails` then inserts there instead of searching the block again.
    The ``posts`` must be distinct objects (a fleet round's rows are): a second insertion into
    one window would use a place the first one moved.

    >>> from pipeline.detectors.tail_window import code
    >>> posts = [TailCalibrator(window=4, min_count=1) for _ in range(2)]
    >>> places: list[int] = []
    >>> score_tails(posts, [0.5, 0.5], [code(0.5)] * 2, places)
    [0.0, 0.0]
    >>> learn_tails(posts, [code(0.5)] * 2, places)
    >>> places = []
    >>> score_tails(posts, [0.9, 0.1], [code(0.9), code(0.1)], places), places
    ([1.0, 0.0], [1, 0])
    >>> [posts[0].score(0.9), posts[1].score(0.1)]
    [1.0, 0.0]
    """
    # TailCalibrator.score_coded and TailWindow.probability_of_code inline: the two calls
    # cost as much as their bisections
    out: list[float] = []
    add, place = out.append, places.append
    for post, raw, value in zip(posts, raws, coded, strict=True):
        post._last = raw
        window = post._calibrator
        blocks = window._blocks
        below = bisect_left(blocks[-1], value) if blocks else 0
        place(below)
        if post._count < post.min_count or not window._count:
            add(0.0)
            continue
        if len(blocks) > 1:
            for block in blocks[:-1]:
                below += bisect_left(block, value)
        add(below / window._count)
    return out


def learn_tails(posts: list[TailCalibrator], coded: list[int], places: list[int]) -> None:
    """``posts[i].learn()`` for each ``i``, given :func:`code` of the raw each last scored and
    the places :func:`score_tails` found for the codes in the newest blocks."""
    # TailCalibrator.learn_coded and TailWindow.learn_code inline (as in score_tails):
    # inserting at the bisect_left place of the newest block gives insort's array (equal
    # codes are alike); a full window drops its oldest block, which is the newest only when
    # it is the only one, and then a new block starts, as when the newest is full
    for post, value, place in zip(posts, coded, places, strict=True):
        if post._last is None:
            continue
        window = post._calibrator
        blocks = window._blocks
        if window._count >= window.window:
            window._count -= len(blocks.pop(0))
        if not blocks or len(blocks[-1]) >= window.block:
            blocks.append(array("H", (value,)))
        else:
            blocks[-1].insert(place, value)
        window._count += 1
        post._count += 1


def build_post(kind: str, window: int, short: int) -> PostProcessor:
    """The post-processor named ``kind`` (``tail``, ``likelihood`` or ``loglikelihood``)."""
    if kind in ("likelihood", "loglikelihood"):
        return AnomalyLikelihood(short=short, long=window, log_scale=kind == "loglikelihood")
    return TailCalibrator(window)
