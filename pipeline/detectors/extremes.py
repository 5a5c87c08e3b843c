"""``extremes``: how far a reading's context features break out of their recent range, once.

For every channel, :class:`~pipeline.detectors.context.ContextFeatures` gives the value, its
recent mean and its change since one season ago; each feature's
:class:`~pipeline.detectors.extremes_window.ExtremesWindow` says how unusual it is among its
last ``window`` learned values (a rank inside the range, 1 at an extreme, more beyond it in
proportion to the range). The reading's surprise ``u`` is the largest of its features';
:class:`~pipeline.detectors.suppress.PeakSuppressor` zeroes it unless it beats the recent
decaying peaks, and the score is ``u / (1 + u)``: 0.5 at the edge of the recent range, more
beyond it. It never saturates, so one threshold ranks every file and asset the same way.

With ``global_suppress`` each feature has its own suppressor (a break of the seasonal change
is reported even while a value spike's peak still decays, and the other way round) and the
reading's largest surviving surprise then passes a short suppressor of ``global_suppress``
readings, so one event is still reported once. ``season_weight`` scales the ``__season``
feature's surprise: below 1, a broken daily pattern must break further to be reported.

Everything is learned, anomalies included: the window forgets an old level after ``window``
readings instead of alarming for ever, and the suppressor keeps a new level from alarming on
every reading meanwhile. The detector is what the NAB configuration runs (``configs/nab.toml``).

Examples
--------
>>> detector = Extremes(window=200, mean_window=5, season_ms=None, suppress=50)
>>> scores = []
>>> for i in range(300):
...     x = {"t": 20.0 + (i % 7) * 0.1 + (5.0 if i >= 250 else 0.0)}
...     scores.append(detector.score_one(x))
...     detector.learn_one(x)
>>> max(scores[100:250]) <= 0.5, scores[250] > 0.9, max(scores[251:]) < scores[250]
(True, True, True)
>>> detector.contributions({"t": 25.0})
{'t': 1.0}
"""

from __future__ import annotations

from pipeline.detectors.base import shares
from pipeline.detectors.context import ContextFeatures
from pipeline.detectors.extremes_window import ExtremesWindow
from pipeline.detectors.suppress import PeakSuppressor

__all__ = ["Extremes"]

_Lane = tuple[ExtremesWindow, float | None, PeakSuppressor | None]


class Extremes:
    """Context features | per-feature extremes windows | max | peak suppression | ``u/(1+u)``."""

    def __init__(
        self,
        window: int,
        mean_window: int,
        season_ms: int | None,
        suppress: int,
        excess_scale: float = 0.1,
        min_rel_range: float = 1e-3,
        seasons: int = 1,
        global_suppress: int | None = None,
        season_weight: float = 1.0,
    ) -> None:
        self.window = window
        self.excess_scale = excess_scale
        self.min_rel_range = min_rel_range
        season = "off" if season_ms is None else f"{seasons}x{season_ms / 3_600_000:g}h"
        self.suppress = suppress
        self.season_weight = season_weight
        scope = "" if global_suppress is None else f"/feature,global={global_suppress}"
        weight = "" if season_weight == 1.0 else f",season_weight={season_weight:g}"
        self.name = (
            f"extremes(window={window},mean={mean_window},season={season}{weight},"
            f"suppress={suppress}{scope})"
        )
        self._context = ContextFeatures(mean_window, season_ms, seasons)
        self._suppressor = PeakSuppressor(suppress if global_suppress is None else global_suppress)
        self._per_feature = global_suppress is not None
        self._feature_suppressors: dict[str, PeakSuppressor] = {}
        self._windows: dict[str, ExtremesWindow] = {}
        self._lanes: dict[str, _Lane] = {}
        """Each feature's window, season weight and suppressor, for one lookup a reading."""
        self._ts: int | None = None
        self._last_in: dict[str, float] | None = None
        self._last_features: dict[str, float] = {}
        self._last_surprise: dict[str, float] = {}

    def observe_time(self, ts: int) -> None:
        """The timestamp (epoch ms) of the reading about to be scored, for ``__season``."""
        self._ts = ts

    def score_one(self, x: dict[str, float]) -> float:
        features = self._context.transform_one(x, self._ts)
        self._ts = None
        surprise: dict[str, float] = {}
        lanes = self._lanes
        top = None  # the largest reported surprise (the first of equals, as ``max`` keeps)
        for name, value in features.items():
            lane = lanes.get(name)
            if lane is None:
                lane = self._lane(name)
            window, weight, suppressor = lane
            u = surprise[name] = window.surprise(value)
            if weight is not None:
                u = u * weight
            if suppressor is not None:
                u = suppressor.filter(u)
            if top is None or u > top:
                top = u
        self._last_in, self._last_features, self._last_surprise = x, features, surprise
        u = self._suppressor.filter(0.0 if top is None else top)
        return u / (1.0 + u)

    def _lane(self, name: str) -> _Lane:
        """A feature's window, its season weight (``None``: not weighted) and, per feature, its
        suppressor; the windows and suppressors are the ones ``_windows`` and
        ``_feature_suppressors`` hold (made on first sight)."""
        suppressor = None
        if self._per_feature:
            suppressor = self._feature_suppressors.get(name)
            if suppressor is None:
                suppressor = self._feature_suppressors[name] = PeakSuppressor(self.suppress)
        weight = self.season_weight if name.endswith("__season") else None
        lane = self._lanes[name] = (self._window(name), weight, suppressor)
        return lane

    def __getstate__(self) -> dict[str, object]:
        state = self.__dict__.copy()
        del state["_lanes"]  # derived from the windows and suppressors: not in snapshots
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._lanes = {}

    def learn_one(self, x: dict[str, float]) -> None:
        features = self._last_features if x is self._last_in or x == self._last_in else x
        windows = self._windows
        for name, value in features.items():
            window = windows.get(name)
            if window is None:
                window = self._window(name)
            window.learn(value)

    def contributions(self, x: dict[str, float]) -> dict[str, float]:
        """Each channel's share of its features' surprise (the values' alone for a new ``x``)."""
        if x is self._last_in or x == self._last_in:
            return shares(self._last_surprise)
        return shares({name: w.surprise(x[name]) for name, w in self._windows.items() if name in x})

    def is_outlier(self, x: dict[str, float]) -> bool:
        """Never: a new level is learned, and the suppressor keeps it from alarming meanwhile."""
        return False

    def _window(self, feature: str) -> ExtremesWindow:
        window = self._windows.get(feature)
        if window is None:
            window = self._windows[feature] = ExtremesWindow(
                self.window, self.excess_scale, self.min_rel_range
            )
        return window
