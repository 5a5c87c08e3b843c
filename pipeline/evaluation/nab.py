"""NAB v1.1 scoring: windows, scaled-sigmoid rewards, profiles, threshold sweep, normalisation.

An independent implementation of the rules in the Numenta Anomaly Benchmark (see the NAB
folder's README). Per file, every row after the probation period
(``min(floor(0.15 n), 750)`` rows) gets a weight: inside a label window
``[L, R]`` of ``w`` rows, an alarm at row ``i`` would earn ``tp * sig(-(R-i+1)/w) / sig(-1)``
(only the window's earliest alarm counts; a window without one costs ``-fn``); outside,
``fp * sig((i-R)/(w-1))`` after the most recent window and ``-fp`` before the first, with
``sig(y) = 2/(1+exp(5y)) - 1`` (and ``-1`` beyond ``y > 3``). A row alarms when its score is at
or above the threshold; the threshold is optimised over the whole corpus by trying every
distinct score. ``100 * (raw - null) / (perfect - null)`` normalises the total.

Examples
--------
>>> stamps = [f"2024-01-01 00:{m:02d}:00" for m in range(20)]
>>> windows = [("2024-01-01 00:10:00", "2024-01-01 00:13:00")]
>>> scores = [0.0] * 20
>>> scores[10] = 0.9   # the first row of the window: a perfect detection
>>> result = score_corpus({"f.csv": (stamps, scores)}, {"f.csv": windows}, PROFILES)
>>> result["standard"].normalised, result["standard"].threshold
(100.0, 0.9)
>>> scores[18] = 0.95  # plus a false alarm soon after the window
>>> result = score_corpus({"f.csv": (stamps, scores)}, {"f.csv": windows}, PROFILES)
>>> round(result["standard"].normalised, 2)
94.5
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = [
    "PROFILES",
    "CostMatrix",
    "FilePoints",
    "ProfileScore",
    "load_profiles",
    "load_windows",
    "probation_length",
    "scaled_sigmoid",
    "score_corpus",
    "sweep_points",
    "window_labels",
]

FloatArray = npt.NDArray[np.float64]
Windows = Sequence[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class CostMatrix:
    """A profile's weights: reward of a detection, cost of a false alarm and of a miss."""

    tp: float
    fp: float
    fn: float


PROFILES: dict[str, CostMatrix] = {
    "standard": CostMatrix(tp=1.0, fp=0.11, fn=1.0),
    "reward_low_FP_rate": CostMatrix(tp=1.0, fp=0.22, fn=1.0),
    "reward_low_FN_rate": CostMatrix(tp=1.0, fp=0.11, fn=2.0),
}
"""NAB's three profiles (``config/profiles.json``)."""


@dataclass(frozen=True, slots=True)
class ProfileScore:
    """One profile's result over a corpus."""

    threshold: float
    raw: float
    null: float
    perfect: float

    @property
    def normalised(self) -> float:
        """``100 * (raw - null) / (perfect - null)``: 0 is the null detector, 100 perfect."""
        return 100.0 * (self.raw - self.null) / (self.perfect - self.null)


@dataclass(frozen=True, slots=True)
class FilePoints:
    """The scorable rows of one file (after probation), with unweighted sigmoid positions.

    ``window`` is the window index of a row inside a window, ``-1`` outside; ``position`` is
    the scaled sigmoid of the row's position (positive inside a window, negative outside).
    """

    scores: FloatArray
    position: FloatArray
    window: npt.NDArray[np.int64]
    n_windows: int


def scaled_sigmoid(y: float) -> float:
    """NAB's ``2 / (1 + exp(5y)) - 1``, exactly ``-1`` for ``y > 3``.

    >>> scaled_sigmoid(0.0), scaled_sigmoid(3.5)
    (0.0, -1.0)
    """
    if y > 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * y)) - 1.0


def probation_length(n_rows: int) -> int:
    """Rows at the start of a file that NAB never scores: ``min(floor(0.15 n), 750)``.

    >>> probation_length(4032), probation_length(10000)
    (604, 750)
    """
    return min(math.floor(0.15 * n_rows), 750)


def load_profiles(path: Path) -> dict[str, CostMatrix]:
    """The cost matrices of a NAB ``profiles.json``."""
    raw = json.loads(path.read_text())
    return {
        name: CostMatrix(
            tp=float(body["CostMatrix"]["tpWeight"]),
            fp=float(body["CostMatrix"]["fpWeight"]),
            fn=float(body["CostMatrix"]["fnWeight"]),
        )
        for name, body in raw.items()
    }


def load_windows(path: Path) -> dict[str, list[tuple[str, str]]]:
    """``combined_windows.json``: relative file name -> inclusive ``(start, end)`` timestamps."""
    raw = json.loads(path.read_text())
    return {name: [(str(start), str(end)) for start, end in limits] for name, limits in raw.items()}


def sweep_points(timestamps: Sequence[str], scores: npt.ArrayLike, windows: Windows) -> FilePoints:
    """Weigh every row of one file as NAB's sweeper does; drop the probation rows."""
    n_rows = len(timestamps)
    values = np.asarray(scores, dtype=np.float64)
    if len(values) != n_rows:
        raise ValueError(f"{n_rows} timestamps but {len(values)} scores")
    stamps = _as_ns(timestamps)
    bounds = [_window_rows(stamps, start, end) for start, end in windows]
    position = np.empty(n_rows)
    window = np.full(n_rows, -1, dtype=np.int64)
    position[: bounds[0][0] if bounds else n_rows] = -1.0  # before the first window
    max_tp = scaled_sigmoid(-1.0)
    for index, (left, right) in enumerate(bounds):
        width = right - left + 1
        rows = np.arange(left, right + 1)
        position[left : right + 1] = _sigmoid(-(right - rows + 1) / width) / max_tp
        window[left : right + 1] = index
        after_end = bounds[index + 1][0] if index + 1 < len(bounds) else n_rows
        past = np.arange(right + 1, after_end)
        position[right + 1 : after_end] = _sigmoid((past - right) / max(width - 1, 1e-12))
    start = probation_length(n_rows)
    return FilePoints(
        scores=values[start:],
        position=position[start:],
        window=window[start:],
        n_windows=len(bounds),
    )


def score_corpus(
    results: Mapping[str, tuple[Sequence[str], npt.ArrayLike]],
    windows: Mapping[str, Windows],
    profiles: Mapping[str, CostMatrix],
    thresholds: Mapping[str, float] | None = None,
) -> dict[str, ProfileScore]:
    """Score a detector's files (name -> (timestamps, scores)) under every profile.

    With ``thresholds`` (profile -> threshold) the detector is scored at those; otherwise the
    threshold of each profile is optimised over the corpus, as NAB does.
    """
    points = [
        sweep_points(stamps, scores, windows[name]) for name, (stamps, scores) in results.items()
    ]
    n_windows = sum(file.n_windows for file in points)
    scored: dict[str, ProfileScore] = {}
    for name, cost in profiles.items():
        candidates, totals = _raw_by_threshold(points, cost)
        if thresholds is None:
            best = int(np.argmax(totals))
        else:
            best = int(np.searchsorted(-candidates, -thresholds[name], side="right")) - 1
        scored[name] = ProfileScore(
            threshold=float(candidates[best]) if thresholds is None else thresholds[name],
            raw=float(totals[best]),
            null=-cost.fn * n_windows,
            perfect=cost.tp * n_windows,
        )
    return scored


def window_labels(timestamps: Sequence[str], windows: Windows) -> npt.NDArray[np.int8]:
    """NAB's ``label`` column: 1 for rows inside a window (inclusive limits), else 0.

    >>> window_labels(["2024-01-01 00:00", "2024-01-01 00:05", "2024-01-01 00:10"],
    ...               [("2024-01-01 00:05:00.000000", "2024-01-01 00:10:00.000000")]).tolist()
    [0, 1, 1]
    """
    stamps = _as_ns(timestamps)
    inside = np.zeros(len(stamps), dtype=bool)
    for start, end in windows:
        start_ns, end_ns = _as_ns([start, end])
        inside |= (stamps >= start_ns) & (stamps <= end_ns)
    return inside.astype(np.int8)


def _raw_by_threshold(
    points: Sequence[FilePoints], cost: CostMatrix
) -> tuple[FloatArray, FloatArray]:
    """Every candidate threshold (descending, starting above 1) and the corpus raw score there.

    A threshold ``t`` alarms every row scoring ``>= t``. Lowering it past a row adds the row's
    false-positive cost, or raises its window's reward to the row's if that is higher (the
    earliest alarm of a window has the highest reward).
    """
    scores = np.concatenate([file.scores for file in points])
    position = np.concatenate([file.position for file in points])
    window = np.concatenate(_global_window_ids(points))
    order = np.argsort(-scores, kind="stable")
    scores, position, window = scores[order], position[order], window[order]
    in_window = window >= 0
    gain = np.where(in_window, 0.0, cost.fp * position)
    reward = pd.Series(cost.tp * position[in_window])
    best_so_far = reward.groupby(window[in_window]).cummax()
    previous = best_so_far.groupby(window[in_window]).shift(1).fillna(-cost.fn)
    gain[in_window] = (best_so_far - previous).to_numpy()
    n_windows = sum(file.n_windows for file in points)
    totals = -cost.fn * n_windows + np.cumsum(gain)
    last_of_tie = np.append(scores[1:] != scores[:-1], True)
    candidates = np.concatenate(([1.1], scores[last_of_tie]))
    return candidates, np.concatenate(([-cost.fn * n_windows], totals[last_of_tie]))


def _global_window_ids(points: Sequence[FilePoints]) -> list[npt.NDArray[np.int64]]:
    ids, offset = [], 0
    for file in points:
        ids.append(np.where(file.window >= 0, file.window + offset, -1))
        offset += file.n_windows
    return ids


def _sigmoid(y: npt.NDArray[np.float64]) -> FloatArray:
    with np.errstate(over="ignore"):
        values = 2.0 / (1.0 + np.exp(5.0 * y)) - 1.0
    return np.where(y > 3.0, -1.0, values)


def _as_ns(timestamps: Sequence[str]) -> npt.NDArray[np.int64]:
    return (
        pd.to_datetime(pd.Series(timestamps), format="mixed")
        .to_numpy("datetime64[ns]")
        .view(np.int64)
    )


def _window_rows(stamps: npt.NDArray[np.int64], start: str, end: str) -> tuple[int, int]:
    """First row at ``start`` and first row at ``end``, as NAB's ``list.index`` finds them."""
    (start_ns, end_ns) = _as_ns([start, end])
    lefts, rights = np.flatnonzero(stamps == start_ns), np.flatnonzero(stamps == end_ns)
    if len(lefts) == 0 or len(rights) == 0:
        raise ValueError(f"window ({start}, {end}) limits are not timestamps of the file")
    return int(lefts[0]), int(rights[0])
