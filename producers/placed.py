"""Faults placed on a fleet's tick grid, applied to blocks of values.

:func:`bend` bends a faulty asset's values and noise spreads from onset to failure (and lets a
failed fault's extra heat cool away); :func:`freeze` holds a stuck sensor's channel. Both work
in place on ``(ticks, assets, channels)`` arrays of one block, so a stream cut into blocks
anywhere is the same stream.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from producers.faults import FAULT_DURATION_S, STUCK_CHANNEL, FaultSpec, effect_of
from producers.machines import CHANNELS

__all__ = ["PlacedFault", "bend", "freeze"]

Array = npt.NDArray[np.float64]
_TEMP = CHANNELS.index("bearing_temp_c")
_COOL_TAU_S = 120.0  # a stopped bearing's cooling time constant
_LINGER_TAUS = 8.0  # a failed fault's extra heat is gone (< 0.1 %) after this many taus


@dataclass(frozen=True, slots=True)
class PlacedFault:
    """A fault placed on the fleet's tick grid (ticks of its asset; ``None``: never)."""

    spec: FaultSpec
    column: int
    onset_tick: int
    end_tick: int | None  # first tick of the failed (stopped) state
    end_s: float  # that tick's time on the asset's clock (inf without failure)
    repair_tick: int | None  # first tick after maintenance
    repair_at_s: float


def bend(fault: PlacedFault, values: Array, spread: Array, t: Array, first: int) -> None:
    """Bend one asset's values and noise spread (in place) for this block's faulty ticks.

    Until failure the fault's effect grows with its progress; from failure to maintenance the
    machine stands still (see ``Fleet._regime``) and only the fault's extra heat lingers,
    cooling away (also after a restart) with the bearing's cooling time constant.
    """
    start = max(0, fault.onset_tick - first)
    stop = t.shape[0] if fault.end_tick is None else max(0, fault.end_tick - first)
    effect, duration = effect_of(fault.spec.kind), FAULT_DURATION_S[fault.spec.kind]
    column = fault.column
    if start < min(stop, t.shape[0]):
        since = t[start:stop, column] - fault.spec.at_s
        progress = np.clip(since / duration, 0.0, 1.0) if duration else np.ones_like(since)
        effect(values[start:stop, column], spread[start:stop, column], progress[:, None], since)
    if fault.end_tick is None or stop >= t.shape[0]:
        return
    cooled = t[stop:, column] - fault.end_s < _LINGER_TAUS * _COOL_TAU_S
    end = stop + int(np.count_nonzero(cooled))
    before = values[stop:end, column]
    if before.shape[0] == 0:
        return
    heated = before.copy()
    since_failure = t[stop:end, column] - fault.end_s
    effect(
        heated,
        spread[stop:end, column].copy(),
        np.ones((before.shape[0], 1)),
        since_failure + (duration or 0.0),
    )
    extra = heated[:, _TEMP] - before[:, _TEMP]
    before[:, _TEMP] += extra * np.exp(-since_failure / _COOL_TAU_S)


def freeze(frozen: dict[int, float], fault: PlacedFault, values: Array, first: int) -> None:
    """Hold the stuck channel at the value it read at onset."""
    start = fault.onset_tick - first
    if start >= values.shape[0]:
        return
    channel = CHANNELS.index(STUCK_CHANNEL)
    if fault.column not in frozen:
        frozen[fault.column] = float(values[start, fault.column, channel])
    values[max(0, start) :, fault.column, channel] = frozen[fault.column]
