"""Slow wear before a failing fault: the P-F interval (off by default).

Real machines rarely fail out of the blue: a bearing wears for hours or days (from the
point *P* where degradation becomes measurable to the functional failure *F*) before the
fault proper sets in. With a :class:`Wear` of ``seconds > 0`` every fault that ends in a
failure is preceded by such a stretch: from ``seconds`` before its onset (but not before
the asset's previous restart) the fault's two strongest channels (see
:data:`producers.faults.FAULT_CHANNELS`) drift linearly, in the direction the fault will
move them, until they are ``sd`` standard deviations of their own per-reading sensor noise
away at the onset. The drift stays on top of the fault until the failure.

Per reading the drift is inside the noise; only an average over many readings, measured
against the asset's level after its last repair, shows it.

Examples
--------
>>> Wear().seconds, Wear(600).sd
(0.0, 1.0)
>>> Wear(-1)
Traceback (most recent call last):
...
ValueError: wear seconds and sd must be finite and >= 0, got -1 and 1.0
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from producers.faults import FAULT_CHANNELS, FAULT_DURATION_S, FaultKind, effect_of
from producers.machines import CHANNELS

__all__ = ["Wear", "WearSpan", "apply_wear", "wear_direction"]

Array = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Wear:
    """How long before a failing fault's onset wear begins, and how far it drifts by then."""

    seconds: float = 0.0
    """Length of the P-F stretch before the onset (0: off)."""
    sd: float = 1.0
    """Drift at the onset, in standard deviations of each channel's per-reading noise."""
    shape: float = 1.0
    """How the drift grows: ``(elapsed / seconds) ** shape`` of its size at the onset (1:
    linear; 2 or 3: slow at first and accelerating towards the fault, as a P-F curve)."""

    def __post_init__(self) -> None:
        ok = all(math.isfinite(v) and v >= 0 for v in (self.seconds, self.sd))
        if not ok:
            raise ValueError(
                f"wear seconds and sd must be finite and >= 0, got {self.seconds} and {self.sd}"
            )
        if not (math.isfinite(self.shape) and self.shape > 0):
            raise ValueError(f"wear shape must be finite and > 0, got {self.shape}")


def wear_direction(kind: FaultKind, row: Array) -> Array:
    """Per channel: +1/-1 where ``kind`` will push ``row`` (one asset's values), 0 elsewhere.

    Only the fault's two strongest channels drift.

    >>> row = np.ones(len(CHANNELS)) * 10.0
    >>> dict(zip(CHANNELS, wear_direction("filter_clogging", row).tolist()))["flow_m3_h"]
    -1.0
    """
    duration = FAULT_DURATION_S[kind] or 1.0
    bent = row[None, :].copy()
    effect_of(kind)(bent, np.zeros_like(bent), np.ones((1, 1)), np.array([duration]))
    direction = np.zeros(len(CHANNELS))
    for name in FAULT_CHANNELS[kind][:2]:
        index = CHANNELS.index(name)
        direction[index] = np.sign(bent[0, index] - row[index])
    return direction


@dataclass(frozen=True, slots=True)
class WearSpan:
    """Where one failing fault's wear runs: asset column, start, onset and failure times (s)."""

    column: int
    start_s: float
    onset_s: float
    end_s: float
    direction: Array


def apply_wear(
    spans: list[WearSpan], wear: Wear, values: Array, t: Array, rel: Array, absolute: Array
) -> None:
    """Drift ``values`` ``(ticks, assets, channels)`` in place over each span's ticks.

    ``t`` is each asset's time ``(ticks, assets)``; ``rel`` and ``absolute`` are the channels'
    relative and absolute noise (the drift at onset is ``wear.sd`` times their sum).

    >>> span = WearSpan(0, 10.0, 20.0, 30.0, np.array([1.0, -1.0]))
    >>> values = np.full((4, 1, 2), 100.0)
    >>> t = np.array([[5.0], [15.0], [20.0], [30.0]])
    >>> apply_wear([span], Wear(10, 2), values, t, np.array([0.01, 0.0]), np.array([0.0, 0.5]))
    >>> values[:, 0].tolist()
    [[100.0, 100.0], [101.0, 99.5], [102.0, 99.0], [100.0, 100.0]]
    >>> values = np.full((4, 1, 2), 100.0)  # accelerating: a quarter of the way at half time
    >>> apply_wear([span], Wear(10, 2, 2.0), values, t, np.array([0.01, 0.0]), np.zeros(2))
    >>> values[1, 0].tolist()
    [100.5, 100.0]
    """
    for span in spans:
        clock = t[:, span.column]
        inside = (clock >= span.start_s) & (clock < span.end_s)
        if not inside.any():
            continue
        length = max(span.onset_s - span.start_s, 1e-9)
        ramp = np.clip((clock[inside] - span.start_s) / length, 0.0, 1.0)[:, None] ** wear.shape
        cells = values[inside, span.column]
        step = wear.sd * (rel * cells + absolute) * span.direction
        values[inside, span.column] = cells + ramp * step
