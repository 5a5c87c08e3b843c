"""The simulated fleet in one import: machine types, fault modes and the fleet itself.

The parts live in :mod:`producers.machines` (types and their healthy channels),
:mod:`producers.faults` (fault modes), :mod:`producers.regimes` (shifts, start-up, shut-down)
and :mod:`producers.fleet` (the deterministic stream); this module gathers their public names.

Examples
--------
>>> fleet = Fleet(2, seed=7, faults=[FaultSpec.parse("asset-001:bearing_wear@0.2")],
...               interval_s=0.1, start_ts_ms=1_000)
>>> for record in fleet.records(ticks=4):
...     detail = record.seq if isinstance(record, Reading) else record.kind
...     print(type(record).__name__, record.asset, record.ts, detail)
Reading asset-000 1000 0
Reading asset-001 1050 0
Reading asset-000 1100 1
Reading asset-001 1150 1
Reading asset-000 1200 2
Label asset-001 1250 fault_start
Reading asset-001 1250 2
Reading asset-000 1300 3
Reading asset-001 1350 3
>>> sorted(next(iter(fleet)).values)  # doctest: +NORMALIZE_WHITESPACE
['bearing_temp_c', 'flow_m3_h', 'load_pct', 'motor_current_a', 'pressure_bar', 'speed_rpm',
 'vibration_hf_g', 'vibration_rms_mm_s']
>>> fleet.types
('centrifugal_pump', 'motor_gearbox')
"""

from __future__ import annotations

from pipeline.messages import Label, Reading
from producers.faults import (
    DRIFT_CHANNEL,
    FAULT_CHANNELS,
    FAULT_DURATION_S,
    STUCK_CHANNEL,
    FaultKind,
    FaultSpec,
)
from producers.fleet import REPAIR_S, Disturbances, Fleet, Record, asset_name, interval_for_rate
from producers.machines import CHANNELS, MACHINE_TYPES, UNITS

__all__ = [
    "CHANNELS",
    "DRIFT_CHANNEL",
    "Disturbances",
    "FAULT_CHANNELS",
    "FAULT_DURATION_S",
    "FaultKind",
    "FaultSpec",
    "Fleet",
    "Label",
    "MACHINE_TYPES",
    "REPAIR_S",
    "Reading",
    "Record",
    "STUCK_CHANNEL",
    "UNITS",
    "asset_name",
    "interval_for_rate",
]
