"""Targets of a buffered reading, derived from the failure that followed it (or its absence).

A reading at ``ts`` is a *positive* when a ``failure`` follows within the horizon ``H``
(``failure_ts - H <= ts <= failure_ts``); its remaining useful life is the time to that
failure. It is a *negative* once ``H`` (plus the allowed label delay) of event time passed
without one; its remaining useful life is then at least ``H``, the cap. Readings after a
failure and before its maintenance belong to a stopped machine and get no target.

Examples
--------
>>> target_before_failure(ts=40_000, failure_ts=100_000, horizon_ms=120_000)
Target(failure=True, rul_s=60.0)
>>> target_before_failure(ts=0, failure_ts=200_000, horizon_ms=120_000)
Target(failure=False, rul_s=120.0)
>>> target_before_failure(ts=101_000, failure_ts=100_000, horizon_ms=120_000) is None
True
>>> horizon_passed(ts=0, watermark=130_000, horizon_ms=120_000, delay_ms=5_000)
True
>>> horizon_passed(ts=10_000, watermark=130_000, horizon_ms=120_000, delay_ms=5_000)
False
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Target", "horizon_passed", "no_failure", "target_before_failure"]


@dataclass(frozen=True, slots=True)
class Target:
    """What a reading's models learn: a failure within the horizon, and the capped RUL."""

    failure: bool
    rul_s: float


def no_failure(horizon_ms: int) -> Target:
    """The target of a reading the horizon passed without a failure (RUL at the cap)."""
    return Target(failure=False, rul_s=horizon_ms / 1000.0)


def target_before_failure(ts: int, failure_ts: int, horizon_ms: int) -> Target | None:
    """The target of a reading at ``ts`` given the next failure at ``failure_ts``.

    ``None`` when the reading came after the failure (the machine stood still).
    """
    if ts > failure_ts:
        return None
    if ts < failure_ts - horizon_ms:
        return no_failure(horizon_ms)
    return Target(failure=True, rul_s=(failure_ts - ts) / 1000.0)


def horizon_passed(ts: int, watermark: int, horizon_ms: int, delay_ms: int) -> bool:
    """Whether the asset's event time ``watermark`` is past ``ts``'s horizon and label delay."""
    return ts + horizon_ms + delay_ms < watermark
