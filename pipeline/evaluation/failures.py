"""A simulated fleet that fails again and again: the ground truth for failure prediction.

:func:`failure_schedule` places faults that end in a failure (bearing wear, overheating,
misalignment, cavitation, filter clogging) on every asset, one after the other: a healthy
stretch of ``gap_s`` (drawn from ``[gap_s / 2, 3 gap_s / 2]``), the fault, its failure, the
repair, and again. The same seed gives the same schedule.

Examples
--------
>>> faults = failure_schedule(2, duration_s=4000, seed=1, first_s=1000, gap_s=600)
>>> all(f.at_s >= 1000 for f in faults), len({f.asset for f in faults})
(True, 2)
>>> all(f.kind in FAILING_KINDS for f in faults), faults == failure_schedule(2, 4000, 1, 1000, 600)
(True, True)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import cast, get_args

import numpy as np

from pipeline.messages import Label, Reading
from producers.faults import FAULT_DURATION_S, FaultKind, FaultSpec
from producers.fleet import Fleet, asset_name
from producers.wear import Wear

__all__ = ["FAILING_KINDS", "failure_fleet", "failure_schedule"]

FAILING_KINDS: tuple[FaultKind, ...] = tuple(
    kind for kind in get_args(FaultKind) if FAULT_DURATION_S[kind] is not None
)
_REPAIR_S = 300.0
_STARTUP_S = 60.0


def failure_schedule(
    assets: int,
    duration_s: float,
    seed: int,
    first_s: float = 1500.0,
    gap_s: float = 900.0,
    wear_s: float = 0.0,
) -> list[FaultSpec]:
    """Faults that fail, back to back with healthy stretches, on every asset.

    ``wear_s``: the wear stretch before each fault (:mod:`producers.wear`) comes on top of
    the healthy stretch, so that the machines run as long healthy as without it.
    """
    rng = np.random.default_rng([seed, 8])
    faults = []
    for index in range(assets):
        at = first_s + wear_s + rng.uniform(0, gap_s)
        while True:
            kind = FAILING_KINDS[int(rng.integers(len(FAILING_KINDS)))]
            length = cast(float, FAULT_DURATION_S[kind])
            if at + length >= duration_s:
                break
            faults.append(FaultSpec(asset_name(index), kind, round(at, 1)))
            at += length + _REPAIR_S + _STARTUP_S + wear_s + rng.uniform(gap_s / 2, 3 * gap_s / 2)
    return faults


def failure_fleet(
    assets: int,
    duration_s: float,
    seed: int,
    interval_s: float = 1.0,
    gap_s: float = 900.0,
    wear: Wear | None = None,
) -> tuple[Fleet, Iterator[Reading | Label]]:
    """The fleet with :func:`failure_schedule`'s faults and its records for ``duration_s``.

    ``wear``: slow wear before every failing fault (:mod:`producers.wear`; off by default).
    """
    wear = wear or Wear()
    faults = failure_schedule(assets, duration_s, seed, gap_s=gap_s, wear_s=wear.seconds)
    fleet = Fleet(
        assets, seed=seed, faults=faults, interval_s=interval_s, repair_s=_REPAIR_S, wear=wear
    )
    return fleet, fleet.records(fleet.ticks_for(duration_s))
