"""Fault modes: what each does to which channels, from onset through progression to failure.

A fault begins at its onset (a ``fault_start`` label), grows with ``progress`` (0 at onset, 1
at failure) and, for the kinds with a duration in :data:`FAULT_DURATION_S`, ends in a
``failure``: the machine stops and its bearing cools. A ``maintenance`` label follows
``repair_s`` later, after which the machine runs healthy again. Sensor faults (stuck, drift)
and imbalance persist without a failure.

Examples
--------
>>> FaultSpec.parse("asset-003:cavitation@30")
FaultSpec(asset='asset-003', kind='cavitation', at_s=30.0)
>>> FAULT_CHANNELS["cavitation"]
('flow_m3_h', 'pressure_bar', 'vibration_hf_g', 'motor_current_a')
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, cast, get_args

import numpy as np
import numpy.typing as npt

from producers.machines import CHANNELS

__all__ = [
    "DRIFT_CHANNEL",
    "FAULT_CHANNELS",
    "FAULT_DURATION_S",
    "FaultKind",
    "FaultSpec",
    "STUCK_CHANNEL",
    "effect_of",
]

FaultKind = Literal[
    "bearing_wear",
    "overheating",
    "imbalance",
    "stuck_sensor",
    "misalignment",
    "cavitation",
    "filter_clogging",
    "sensor_drift",
]
Array = npt.NDArray[np.float64]
Effect = Callable[[Array, Array, Array, Array], None]

FAULT_DURATION_S: dict[FaultKind, float | None] = {
    "bearing_wear": 60.0,
    "overheating": 90.0,
    "imbalance": None,
    "stuck_sensor": None,
    "misalignment": 180.0,
    "cavitation": 150.0,
    "filter_clogging": 240.0,
    "sensor_drift": None,
}
"""Simulated seconds from onset to ``failure``; ``None`` means the fault persists, no failure."""

STUCK_CHANNEL = "bearing_temp_c"
"""The channel a ``stuck_sensor`` fault freezes."""

DRIFT_CHANNEL = "bearing_temp_c"
"""The channel a ``sensor_drift`` fault offsets by a growing amount (the machine is fine)."""

DRIFT_RATE_PER_S = 0.25
"""How fast a drifting sensor's offset grows, in the channel's unit per simulated second."""

FAULT_CHANNELS: dict[FaultKind, tuple[str, ...]] = {
    "bearing_wear": ("vibration_hf_g", "vibration_rms_mm_s", "bearing_temp_c", "motor_current_a"),
    "overheating": ("bearing_temp_c", "motor_current_a"),
    "imbalance": ("vibration_rms_mm_s", "vibration_hf_g"),
    "stuck_sensor": (STUCK_CHANNEL,),
    "misalignment": ("vibration_rms_mm_s", "bearing_temp_c", "motor_current_a"),
    "cavitation": ("flow_m3_h", "pressure_bar", "vibration_hf_g", "motor_current_a"),
    "filter_clogging": ("flow_m3_h", "pressure_bar", "motor_current_a", "bearing_temp_c"),
    "sensor_drift": (DRIFT_CHANNEL,),
}
"""The channels each fault moves, strongest first (see each effect's docstring for how)."""

(_LOAD, _SPEED, _CURRENT, _PRESSURE, _TEMP, _VIB, _HF, _FLOW) = range(len(CHANNELS))
_BEARING_GAIN = np.array([0.0, -0.006, 0.12, 0.0, 0.0, 1.5, 3.0, 0.0])
_BEARING_STEP = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.3, 2.0, 0.0])
_BEARING_SPREAD = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.1, 0.4, 0.0])
_BEARING_ONSET_S = 8.0


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """A fault of ``kind`` that begins on ``asset`` after ``at_s`` simulated seconds.

    >>> FaultSpec.parse("asset-003:bearing_wear@30")
    FaultSpec(asset='asset-003', kind='bearing_wear', at_s=30.0)
    >>> FaultSpec.parse("asset-003:melting@30")
    Traceback (most recent call last):
    ...
    ValueError: unknown fault kind 'melting' in 'asset-003:melting@30'; choose one of ...
    """

    asset: str
    kind: FaultKind
    at_s: float

    @classmethod
    def parse(cls, text: str) -> FaultSpec:
        """Parse ``ASSET:KIND@SECONDS``, e.g. ``asset-003:bearing_wear@30``."""
        head, at, seconds = text.strip().rpartition("@")
        asset, colon, kind = head.rpartition(":")
        if not (at and colon and asset and kind and seconds):
            raise ValueError(
                f"expected ASSET:KIND@SECONDS (e.g. asset-003:bearing_wear@30), got {text!r}"
            )
        if kind not in get_args(FaultKind):
            choices = ", ".join(get_args(FaultKind))
            raise ValueError(f"unknown fault kind {kind!r} in {text!r}; choose one of {choices}")
        try:
            at_s = float(seconds)
        except ValueError:
            raise ValueError(f"fault onset {seconds!r} in {text!r} is not a number") from None
        if not (math.isfinite(at_s) and at_s >= 0):
            raise ValueError(f"fault onset in {text!r} must be a finite number >= 0 seconds")
        return cls(asset=asset, kind=cast(FaultKind, kind), at_s=at_s)


def _bearing_wear(v: Array, sd: Array, progress: Array, since: Array) -> None:
    """Spalling: high-frequency impacts start within seconds, then RMS, friction and heat grow."""
    impacts = np.clip(since / _BEARING_ONSET_S, 0.0, 1.0)[:, None]
    v *= 1.0 + impacts * _BEARING_STEP + progress * _BEARING_GAIN
    sd += impacts * _BEARING_SPREAD
    v[:, _TEMP] += 30.0 * progress[:, 0] ** 1.5


def _overheating(v: Array, sd: Array, progress: Array, since: Array) -> None:
    """Cooling lost: temperature climbs and current rises with the winding resistance."""
    v[:, _TEMP] += 40.0 * progress[:, 0]
    v[:, _CURRENT] *= 1.0 + 0.3 * progress[:, 0]


def _imbalance(v: Array, sd: Array, progress: Array, since: Array) -> None:
    """Mass imbalance: a step in vibration with a beat at 0.25 Hz."""
    v[:, _VIB] *= 1.8 + 0.4 * np.sin(2 * math.pi * since / 4.0)
    v[:, _HF] *= 1.2


def _misalignment(v: Array, sd: Array, progress: Array, since: Array) -> None:
    """Shaft misalignment: 1x/2x vibration grows, the coupling heats the bearing, current rises."""
    grow = 0.4 + 1.6 * progress[:, 0]
    v[:, _VIB] *= 1.0 + grow
    v[:, _HF] *= 1.0 + 0.2 * grow
    v[:, _TEMP] += 15.0 * progress[:, 0] ** 1.2
    v[:, _CURRENT] *= 1.0 + 0.05 * grow


def _cavitation(v: Array, sd: Array, progress: Array, since: Array) -> None:
    """Suction starved: flow and head fall and flutter, bubble collapse raises HF vibration."""
    depth = 0.2 + 0.8 * progress[:, 0]
    v[:, _FLOW] *= 1.0 - 0.35 * depth
    v[:, _PRESSURE] *= 1.0 - 0.25 * depth
    v[:, _CURRENT] *= 1.0 - 0.1 * depth
    v[:, _HF] *= 1.0 + 2.5 * depth
    v[:, _VIB] *= 1.0 + 0.3 * depth
    sd[:, [_FLOW, _PRESSURE]] += 0.08 * depth[:, None]
    sd[:, _HF] += 0.3 * depth


def _filter_clogging(v: Array, sd: Array, progress: Array, since: Array) -> None:
    """A filter fills: flow falls ever faster, pressure before it rises, the fluid heats."""
    blocked = progress[:, 0] ** 2
    v[:, _FLOW] *= 1.0 - 0.7 * blocked
    v[:, _PRESSURE] *= 1.0 + 0.4 * blocked
    v[:, _CURRENT] *= 1.0 - 0.15 * blocked
    v[:, _TEMP] += 12.0 * blocked


def _sensor_drift(v: Array, sd: Array, progress: Array, since: Array) -> None:
    """A sensor's calibration drifts: its reading creeps upward, the machine itself is fine."""
    v[:, CHANNELS.index(DRIFT_CHANNEL)] += DRIFT_RATE_PER_S * since


def _nothing(v: Array, sd: Array, progress: Array, since: Array) -> None:
    """A stuck sensor bends nothing here: the fleet freezes its channel after the noise."""


_EFFECTS: dict[FaultKind, Effect] = {
    "bearing_wear": _bearing_wear,
    "overheating": _overheating,
    "imbalance": _imbalance,
    "stuck_sensor": _nothing,
    "misalignment": _misalignment,
    "cavitation": _cavitation,
    "filter_clogging": _filter_clogging,
    "sensor_drift": _sensor_drift,
}


def effect_of(kind: FaultKind) -> Effect:
    """The function bending ``(ticks, channels)`` values and noise spreads for ``kind``."""
    return _EFFECTS[kind]
