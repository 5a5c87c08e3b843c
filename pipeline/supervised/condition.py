"""Slow drift of each channel beyond what the operating condition explains (per asset).

Most channels of a running machine follow its operating condition (load): current, flow,
pressure and vibration at once, bearing temperature through a thermal lag. Slow wear moves
a channel away from that relation, by less than one reading's noise at first. Per asset,
:class:`ConditionDrift` fits every channel, by least squares with a long memory (about
``memory`` healthy readings), on the condition channel and on its lagged average (time
constant ``lag_s``); the residual is what the condition does not explain. After each repair
(and at the first readings) it waits ``delay_s`` for the restart and the cooling of the
fault's heat to pass (and for 1200 healthy readings to fit), takes the fit as it is then,
learns the mean and spread of its residual over ``base_readings`` healthy readings (the
baseline after the repair), and from then on reports, per channel, a moving average of the
residual (``alpha`` per reading) against that baseline in units of its own standard error
(that of the average plus that of the baseline's mean): about standard normal while the
machine runs as after its repair. ``0`` until learned.

Examples
--------
>>> import random
>>> rng = random.Random(1)
>>> drift = ConditionDrift("load", delay_s=0.0, base_readings=100, memory=2000)
>>> def reading(load, worn=0.0):
...     return {"load": load, "current": 10 + 0.2 * load + worn + rng.gauss(0, 0.1)}
>>> for k in range(1400):
...     x = drift.update(k * 1000, reading(50 + 10 * rng.random()), learn=True)
>>> abs(x["current"]) < 4, "load" in x
(True, False)
>>> for k in range(1400, 1700):
...     x = drift.update(k * 1000, reading(50 + 10 * rng.random(), worn=0.1), learn=True)
>>> x["current"] > 5
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from pipeline.supervised.cusum import page_step

__all__ = ["ConditionDrift"]

_REGRESSORS = 3  # 1, condition, lagged condition
_SOLVE_EVERY = 30
_MIN_FIT = 1200
_CLIP = 30.0
_RIDGE = 1e-6
_Z_CLIP = 10.0
"""A reading's residual counts at most this many spreads (a glitch is not wear)."""
_CUSUM_CLIP = 4.0
"""... and in the CUSUMs at most this many (one glitch adds at most 4 - k)."""


class _Residual:
    """One channel's fit and its residual's baseline and moving average."""

    __slots__ = (
        "xy",
        "xx",
        "fits",
        "coef",
        "frozen",
        "n",
        "total",
        "squares",
        "mean",
        "spread",
        "average",
        "up",
        "down",
    )

    def __init__(self, late: bool = False) -> None:
        self.xy = [0.0] * _REGRESSORS
        self.xx: list[float] | None = [0.0] * (_REGRESSORS * _REGRESSORS) if late else None
        """Its own regressor sums when it appeared after the others (``None``: the shared
        ones, which hold the same readings)."""
        self.fits = 0
        """Readings in its fit."""
        self.coef = [0.0] * _REGRESSORS
        self.frozen = self.coef
        """The fit in force since the baseline began (the residuals stay comparable)."""
        self.n = 0
        self.total = self.squares = self.mean = self.spread = self.average = 0.0
        self.up = self.down = 0.0
        """Page's CUSUMs of the standardized residual, upward and downward."""


class ConditionDrift:
    """Per channel: the residual's moving average against the baseline after the last repair."""

    k = 0.35
    """Reference value of the CUSUMs (about half the shift, in standard deviations, to find)."""

    def __init__(
        self,
        condition: str,
        lag_s: float = 45.0,
        delay_s: float = 300.0,
        base_readings: int = 240,
        memory: float = 3600.0,
        alpha: float = 0.012,
        k: float = 0.35,
    ) -> None:
        self.condition, self.lag_s, self.delay_s = condition, lag_s, delay_s
        self.base_readings, self.memory, self.alpha = base_readings, memory, alpha
        self.k = k
        self.lagged: float | None = None
        self.last_ts = 0
        self.since_ts: int | None = None
        """Start of the running stretch (the last repair or the first reading)."""
        self.xx = [0.0] * (_REGRESSORS * _REGRESSORS)
        self.fitted = 0
        self.channels: dict[str, _Residual] = {}
        self._error = 1.0 / math.sqrt(alpha / (2.0 - alpha) + 1.0 / base_readings)

    def restart(self, ts: int) -> None:
        """The asset was repaired at ``ts``: learn a new baseline once it has settled."""
        self.since_ts = ts
        for channel in self.channels.values():
            channel.n = 0
            channel.total = channel.squares = channel.average = 0.0
            channel.up = channel.down = 0.0

    def crossed(self, h: float) -> list[str]:
        """The CUSUMs at or above ``h``: ``<channel>+`` (upward), ``<channel>-``."""
        names = []
        for name, channel in self.channels.items():
            up, down = _cusums(channel)
            if up >= h:
                names.append(f"{name}+")
            if down >= h:
                names.append(f"{name}-")
        return names

    def monitoring(self) -> bool:
        """Has a channel learned its baseline since the last repair (its CUSUMs run)?"""
        return any(channel.n >= self.base_readings for channel in self.channels.values())

    def cusums(self) -> dict[str, tuple[float, float]]:
        """Per channel (but the condition) its CUSUMs ``(up, down)`` (0 until learned)."""
        return {name: _cusums(channel) for name, channel in self.channels.items()}

    def update(self, ts: int, values: Mapping[str, float], learn: bool) -> dict[str, float]:
        """Account for one reading; per channel (but the condition) its drift."""
        level = values.get(self.condition)
        if level is None or not math.isfinite(level):
            return {name: 0.0 for name in values if name != self.condition}
        f = self._regressors(ts, level)
        if self.since_ts is None:
            self.since_ts = ts
        settled = ts - self.since_ts >= self.delay_s * 1000 and self.fitted >= _MIN_FIT
        if learn:
            self._fit(f, values)
        drift = {}
        for name, value in values.items():
            if name == self.condition:
                continue
            channel = self.channels.get(name)
            if channel is None:
                channel = self.channels[name] = _Residual(late=self.fitted > 0)
            ready = settled and learn and channel.fits >= _MIN_FIT
            if channel.n == 0 and ready:
                channel.frozen = channel.coef
            residual = value - sum(c * v for c, v in zip(channel.frozen, f, strict=True))
            drift[name] = self._drift(channel, residual, ready)
        return drift

    def _regressors(self, ts: int, level: float) -> tuple[float, float, float]:
        if self.lagged is None:
            self.lagged = level
        else:
            dt = max(0.0, (ts - self.last_ts) / 1000.0)
            self.lagged += (1.0 - math.exp(-dt / self.lag_s)) * (level - self.lagged)
        self.last_ts = ts
        return 1.0, level / 100.0, self.lagged / 100.0

    def _fit(self, f: tuple[float, float, float], values: Mapping[str, float]) -> None:
        keep = 1.0 - 1.0 / self.memory
        xx = self.xx
        for i in range(_REGRESSORS):
            for j in range(_REGRESSORS):
                xx[i * _REGRESSORS + j] = keep * xx[i * _REGRESSORS + j] + f[i] * f[j]
        for name, value in values.items():
            channel = self.channels.get(name)
            if channel is None:
                channel = self.channels[name] = _Residual(late=self.fitted > 0)
            channel.xy = [keep * xy + fi * value for xy, fi in zip(channel.xy, f, strict=True)]
            channel.fits += 1
            if channel.xx is not None:
                products = [fi * fj for fi in f for fj in f]
                channel.xx = [keep * a + b for a, b in zip(channel.xx, products, strict=True)]
        self.fitted += 1
        if self.fitted % _SOLVE_EVERY == 0:
            self._solve()

    def _solve(self) -> None:
        shared = [name for name, channel in self.channels.items() if channel.xx is None]
        if shared:
            targets = np.array([self.channels[name].xy for name in shared]).T
            coef = np.linalg.solve(_ridged(self.xx), targets)
            for k, name in enumerate(shared):
                self.channels[name].coef = [float(c) for c in coef[:, k]]
        for channel in self.channels.values():
            if channel.xx is not None:
                solved = np.linalg.solve(_ridged(channel.xx), np.array(channel.xy))
                channel.coef = [float(c) for c in solved]

    def _drift(self, channel: _Residual, residual: float, learn_base: bool) -> float:
        if channel.n < self.base_readings:
            if learn_base:
                channel.n += 1
                channel.total += residual
                channel.squares += residual * residual
                if channel.n == self.base_readings:
                    channel.mean = channel.total / channel.n
                    variance = channel.squares / channel.n - channel.mean**2
                    channel.spread = math.sqrt(max(variance, 0.0)) + 1e-9
            return 0.0
        z = max(-_Z_CLIP, min(_Z_CLIP, (residual - channel.mean) / channel.spread))
        channel.average += self.alpha * (z - channel.average)
        step = max(-_CUSUM_CLIP, min(_CUSUM_CLIP, z))
        up, down = _cusums(channel)
        channel.up = page_step(up, step, self.k)
        channel.down = page_step(down, -step, self.k)
        return max(-_CLIP, min(_CLIP, channel.average * self._error))


def _cusums(channel: _Residual) -> tuple[float, float]:
    """A channel's CUSUMs (0 in snapshots made before them)."""
    return getattr(channel, "up", 0.0), getattr(channel, "down", 0.0)


def _ridged(xx: list[float]) -> np.ndarray:
    """The regressors' sums as a matrix, with a ridge for a condition that has not varied."""
    matrix = np.array(xx).reshape(_REGRESSORS, _REGRESSORS)
    matrix += _RIDGE * np.eye(_REGRESSORS) * max(1.0, float(np.trace(matrix)))
    return matrix
