"""Per-asset features for the fleet-wide models: each channel relative to the asset's own level.

Assets of one machine type run at different levels (each draws its own nominal values), so
a model shared by the type sees every channel as a deviation from the asset's slowly learned
healthy level, in units of its healthy spread: ``z`` of a fast moving average and ``trend``
(fast minus a slower average), plus the detector's calibrated score and its moving average.
The healthy level learns only from readings the detector does not call anomalous.

Examples
--------
>>> features = AssetFeatures(baseline_readings=100)
>>> for k in range(200):
...     x = features.update({"t": 50.0 + (k % 2)}, score=0.1, learn=True)
>>> sorted(x)
['score', 'score_mean', 't.trend', 't.z']
>>> abs(x["t.z"]) < 2
True
>>> for k in range(20):
...     x = features.update({"t": 60.0}, score=1.0, learn=False)
>>> x["t.z"] > 10, x["score_mean"] > 0.5
(True, True)
"""

from __future__ import annotations

import math
from collections.abc import Mapping

__all__ = ["AssetFeatures"]

_FAST = 0.2
_SLOW = 0.02
_SCORE = 0.05
_CLIP = 30.0
_MIN_REL_STD = 0.002


class _Channel:
    __slots__ = ("fast", "slow", "mean", "var", "n")

    def __init__(self, value: float) -> None:
        self.fast = self.slow = self.mean = value
        self.var = 0.0
        self.n = 0


class AssetFeatures:
    """Rolling per-channel state of one asset and the feature vector of its latest reading."""

    def __init__(self, baseline_readings: int) -> None:
        self.baseline_readings = baseline_readings
        self.channels: dict[str, _Channel] = {}
        self.score_mean = 0.0
        self.names: tuple[str, ...] = ("score", "score_mean")
        """The feature names, in the order of :meth:`update`'s values (one shared tuple)."""

    def update(self, values: Mapping[str, float], score: float, learn: bool) -> dict[str, float]:
        """Account for one reading; its features. ``learn``: the reading looks healthy."""
        self.score_mean += _SCORE * (score - self.score_mean)
        for name, value in values.items():
            channel = self.channels.get(name)
            if channel is None:
                channel = self._add(name, value)
            channel.fast += _FAST * (value - channel.fast)
            channel.slow += _SLOW * (value - channel.slow)
            if learn:
                self._learn(channel, value)
        x = {"score": score, "score_mean": self.score_mean}
        for name, channel in self.channels.items():
            spread = math.sqrt(channel.var) + _MIN_REL_STD * abs(channel.mean) + 1e-9
            x[f"{name}.z"] = _clip((channel.fast - channel.mean) / spread)
            x[f"{name}.trend"] = _clip((channel.fast - channel.slow) / spread)
        return x

    def _add(self, name: str, value: float) -> _Channel:
        self.channels[name] = _Channel(value)
        self.channels = dict(sorted(self.channels.items()))
        self.names = ("score", "score_mean") + tuple(
            f"{channel}.{kind}" for channel in self.channels for kind in ("z", "trend")
        )
        return self.channels[name]

    def _learn(self, channel: _Channel, value: float) -> None:
        channel.n += 1
        rate = max(1.0 / channel.n, 1.0 / self.baseline_readings)
        delta = value - channel.mean
        channel.mean += rate * delta
        channel.var = (1.0 - rate) * (channel.var + rate * delta * delta)


def _clip(value: float) -> float:
    return max(-_CLIP, min(_CLIP, value))
