"""The detector contract and the small helpers every detector shares.

A detector follows river's anomaly-detector protocol, one reading at a time: ``score_one(x)``
first, then (unless the caller decides the reading is anomalous) ``learn_one(x)``. Detectors
whose scores depend on the recent *stream* rather than only on what they learned (lags,
rolling means, the anomaly likelihood's short-term average) update that part of their state in
``score_one``, so ``score_one`` must be called exactly once per reading, in order. No detector
ever sees a later reading.

Examples
--------
>>> channel_of("vib__delta"), channel_of("vib")
('vib', 'vib')
>>> shares({"a__mean": 3.0, "a": 1.0, "b": 4.0})
{'a': 0.5, 'b': 0.5}
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from pipeline.moments import RunningMoments

__all__ = ["SHARE_DIGITS", "Detector", "RunningMoments", "TimeAware", "channel_of", "shares"]

SHARE_DIGITS = 4
"""Decimals a channel's share of a score is rounded to (:func:`shares`, and the fleets' batched
shares in :mod:`pipeline.detectors.fleet_shares`, which must give the same)."""


@runtime_checkable
class Detector(Protocol):
    """What ``Processor`` needs from a per-asset detector."""

    name: str

    def score_one(self, x: dict[str, float]) -> float:
        """Anomaly score of ``x`` in [0, 1] (call once per reading, before ``learn_one``)."""

    def learn_one(self, x: dict[str, float]) -> None:
        """Learn ``x`` as normal behaviour."""

    def contributions(self, x: dict[str, float]) -> dict[str, float]:
        """Each channel's share of how unusual ``x`` is (sums to 1, or empty)."""

    def is_outlier(self, x: dict[str, float]) -> bool:
        """Whether ``x`` is too far out to be learned even when it does not alarm."""


@runtime_checkable
class TimeAware(Protocol):
    """A detector with time features: told each reading's timestamp just before ``score_one``."""

    def observe_time(self, ts: int) -> None:
        """The timestamp (epoch milliseconds) of the reading about to be scored."""


def channel_of(feature: str) -> str:
    """The channel a feature was computed from (``vib__delta`` -> ``vib``)."""
    return feature.split("__", 1)[0]


def shares(deviations: dict[str, float]) -> dict[str, float]:
    """Per-channel shares (rounded to :data:`SHARE_DIGITS` places) of non-negative per-feature
    deviations."""
    by_channel: dict[str, float] = {}
    for feature, value in deviations.items():
        channel = feature.split("__", 1)[0]  # channel_of, inline: once per feature and reading
        by_channel[channel] = by_channel.get(channel, 0.0) + value
    total = sum(by_channel.values())
    if not total > 0.0:
        return {}
    return {name: round(value / total, SHARE_DIGITS) for name, value in by_channel.items()}
