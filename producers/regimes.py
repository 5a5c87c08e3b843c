"""Operating regimes: shifts with their own load level, each ending in a shut-down and start-up.

A regime is a pure function of an asset's clock, so a stream cut into blocks anywhere is the
same stream. :func:`shift_schedule` gives, for times ``t`` (seconds), the load level of the
shift and the machine's speed as a fraction of nominal (``running``): 1 in operation, ramping
down at the end of a shift, 0 at standstill, ramping up again before the next shift starts.

Examples
--------
>>> import numpy as np
>>> t = np.array([[0.0], [945.0], [970.0], [990.0], [1000.0]])
>>> level, running = shift_schedule(t, shift_s=1000.0, seed=1, first_asset=0)
>>> running[:, 0].round(2).tolist()
[1.0, 0.67, 0.0, 0.33, 1.0]
>>> bool(level[0, 0] != level[4, 0])  # a new shift, a new load level
True
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["STARTUP_S", "shift_schedule", "startup_ramp"]

Array = npt.NDArray[np.float64]

STARTUP_S = 30.0
"""Seconds a machine takes to run up to speed (and to run down)."""

_STOP_SHARE = 0.06  # part of each shift spent stopping, standing still and starting
_LEVELS = (0.75, 1.1)  # range of a shift's load multiplier


def startup_ramp(since: Array, ramp_s: float = STARTUP_S) -> Array:
    """Speed fraction ``since`` seconds after a start (0 before it, 1 once up to speed).

    >>> startup_ramp(np.array([-1.0, 0.0, 15.0, 60.0])).tolist()
    [0.0, 0.0, 0.5, 1.0]
    """
    ramp: Array = np.clip(since / ramp_s, 0.0, 1.0)
    return ramp


def shift_schedule(
    t: Array, shift_s: float, seed: int, first_asset: int = 0
) -> tuple[Array, Array]:
    """Load level and speed fraction, both shaped like ``t`` ``(ticks, assets)``.

    Column ``j`` of ``t`` is asset ``first_asset + j``; its shift levels depend only on
    ``seed``, the asset and the shift number.
    """
    if not shift_s > 0:
        raise ValueError(f"shift_s must be > 0, got {shift_s}")
    shift = np.floor(t / shift_s)
    level = np.empty_like(t)
    for column in range(t.shape[1]):
        numbers = shift[:, column]
        for number in np.unique(numbers):
            rng = np.random.default_rng([seed, first_asset + column, 2, int(number)])
            level[numbers == number, column] = _LEVELS[0] + (_LEVELS[1] - _LEVELS[0]) * rng.random()
    stop_s = _STOP_SHARE * shift_s
    ramp_s = min(STARTUP_S, stop_s / 4)
    into_stop = t - shift * shift_s - (shift_s - stop_s)
    down = 1.0 - startup_ramp(into_stop, ramp_s)
    up = startup_ramp(into_stop - (stop_s - ramp_s), ramp_s)
    running: Array = np.where(into_stop < 0, 1.0, np.maximum(down, up))
    return level, running
