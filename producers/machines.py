"""Machine types of the simulated fleet and their healthy, load-coupled channels.

Every machine type has the same channels (so a fleet writes one wide table), but what they
measure and how they couple to load differs: a centrifugal pump's discharge pressure and flow,
a gearbox's lube-oil pressure and flow, a hydraulic press's system pressure over a press
cycle, a CNC spindle's through-spindle coolant. Load drives motor current, flow, pressure,
vibration and (through a thermal lag, see :mod:`producers.fleet`) bearing temperature; speed
slips a little under load.

Examples
--------
>>> [machine.name for machine in MACHINE_TYPES.values()]
['centrifugal_pump', 'motor_gearbox', 'hydraulic_press', 'cnc_spindle']
>>> UNITS["vibration_rms_mm_s"]
'mm/s'
>>> machine_types_for(5, ("centrifugal_pump", "cnc_spindle"))
('centrifugal_pump', 'cnc_spindle', 'centrifugal_pump', 'cnc_spindle', 'centrifugal_pump')
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "CHANNELS",
    "MACHINE_TYPES",
    "Baselines",
    "MachineType",
    "UNITS",
    "healthy",
    "machine_types_for",
]

Array = npt.NDArray[np.float64]
Range = tuple[float, float]

UNITS: dict[str, str] = {
    "load_pct": "%",
    "speed_rpm": "rev/min",
    "motor_current_a": "A",
    "pressure_bar": "bar",
    "bearing_temp_c": "degC",
    "vibration_rms_mm_s": "mm/s",
    "vibration_hf_g": "g",
    "flow_m3_h": "m3/h",
}
"""Each channel's unit: vibration is velocity RMS (ISO 10816) and high-frequency envelope."""

CHANNELS: tuple[str, ...] = tuple(UNITS)
"""Channel names in the order every reading carries them."""


@dataclass(frozen=True, slots=True)
class MachineType:
    """Nominal ranges (an asset draws its own value in each) and load couplings of one type.

    A channel ``c`` of a running machine at load ``x`` (0..1) reads about
    ``c0 * (idle + gain * x)``; ``cycle_s``/``cycle_depth`` add a periodic load (a press stroke).
    """

    name: str
    speed: Range
    current: Range
    pressure: Range
    flow: Range
    temp_rise: Range
    vibration: Range
    vibration_hf: Range
    load: Range = (0.55, 0.8)
    slip: float = 0.015
    current_idle: float = 0.3
    pressure_idle: float = 0.5
    pressure_gain: float = 0.6
    flow_idle: float = 0.3
    flow_gain: float = 0.8
    cycle_s: Range = (60.0, 180.0)
    cycle_depth: float = 0.005


MACHINE_TYPES: dict[str, MachineType] = {
    machine.name: machine
    for machine in (
        MachineType(
            "centrifugal_pump",
            speed=(1470.0, 1490.0),
            current=(20.0, 45.0),
            pressure=(4.0, 8.0),  # discharge
            flow=(40.0, 120.0),
            temp_rise=(25.0, 40.0),
            vibration=(1.2, 2.8),
            vibration_hf=(0.2, 0.5),
        ),
        MachineType(
            "motor_gearbox",
            speed=(1460.0, 1485.0),
            current=(30.0, 60.0),
            pressure=(1.5, 3.0),  # lube oil, barely load dependent
            flow=(0.6, 1.5),  # lube oil
            temp_rise=(30.0, 45.0),
            vibration=(1.8, 3.5),
            vibration_hf=(0.3, 0.6),
            pressure_idle=0.9,
            pressure_gain=0.15,
            flow_idle=0.9,
            flow_gain=0.1,
        ),
        MachineType(
            "hydraulic_press",
            speed=(1475.0, 1490.0),  # the pump motor
            current=(40.0, 80.0),
            pressure=(120.0, 200.0),  # system pressure
            flow=(6.0, 15.0),
            temp_rise=(20.0, 35.0),
            vibration=(1.5, 3.0),
            vibration_hf=(0.25, 0.5),
            cycle_s=(12.0, 20.0),
            cycle_depth=0.03,
            current_idle=0.35,
            pressure_idle=0.4,
            pressure_gain=0.8,
        ),
        MachineType(
            "cnc_spindle",
            speed=(8000.0, 12000.0),
            current=(10.0, 25.0),
            pressure=(20.0, 60.0),  # through-spindle coolant
            flow=(0.6, 2.0),  # coolant
            temp_rise=(15.0, 30.0),
            vibration=(0.5, 1.5),
            vibration_hf=(0.1, 0.3),
            slip=0.01,
            current_idle=0.25,
            pressure_idle=0.85,
            pressure_gain=0.2,
            flow_idle=0.85,
            flow_gain=0.2,
        ),
    )
}
"""The machine types by name, in the order a fleet cycles through them."""


def machine_types_for(assets: int, names: Sequence[str] = tuple(MACHINE_TYPES)) -> tuple[str, ...]:
    """The type of each asset: asset ``i`` gets ``names[i % len(names)]``."""
    unknown = [name for name in names if name not in MACHINE_TYPES]
    if unknown or not names:
        raise ValueError(
            f"unknown machine type(s) {unknown}; choose from {', '.join(MACHINE_TYPES)}"
        )
    return tuple(names[index % len(names)] for index in range(assets))


def _pick(machines: Sequence[MachineType], field: str, draws: Array) -> Array:
    """Per asset, the point ``draws`` of the way through its type's range ``field``."""
    low = np.array([getattr(m, field)[0] for m in machines])
    high = np.array([getattr(m, field)[1] for m in machines])
    picked: Array = low + (high - low) * draws
    return picked


def _per_asset(machines: Sequence[MachineType], field: str) -> Array:
    return np.array([float(getattr(m, field)) for m in machines])


class Baselines:
    """Per-asset constants (shape ``(assets,)``) drawn from each asset's own generator."""

    def __init__(self, rngs: Sequence[np.random.Generator], types: Sequence[str]) -> None:
        machines = [MACHINE_TYPES[name] for name in types]
        draws: Array = np.array([rng.random(11) for rng in rngs]).T
        self.load0 = _pick(machines, "load", draws[0])
        self.speed0 = _pick(machines, "speed", draws[1])
        self.current0 = _pick(machines, "current", draws[2])
        self.pressure0 = _pick(machines, "pressure", draws[3])
        self.ambient = 20.0 + 8.0 * draws[4]
        self.temp_rise = _pick(machines, "temp_rise", draws[5])
        self.vib0 = _pick(machines, "vibration", draws[6])
        self.hf0 = _pick(machines, "vibration_hf", draws[7])
        self.duty_phase = 2 * np.pi * draws[8]
        self.duty_period = _pick(machines, "cycle_s", draws[9])
        self.flow0 = _pick(machines, "flow", draws[10])
        self.duty_depth = _per_asset(machines, "cycle_depth")
        self.slip = _per_asset(machines, "slip")
        self.current_idle = _per_asset(machines, "current_idle")
        self.pressure_idle = _per_asset(machines, "pressure_idle")
        self.pressure_gain = _per_asset(machines, "pressure_gain")
        self.flow_idle = _per_asset(machines, "flow_idle")
        self.flow_gain = _per_asset(machines, "flow_gain")

    def temp_target(self, load: Array) -> Array:
        """Bearing temperature the asset settles at under ``load``."""
        target: Array = self.ambient + self.temp_rise * load
        return target


def healthy(base: Baselines, load: Array, temp: Array, running: Array) -> Array:
    """Noise-free values ``(ticks, assets, channels)`` of healthy assets.

    ``load`` is the effective load (0 when stopped), ``running`` the speed as a fraction of
    nominal (1 in operation, ramping during start-up and shut-down).
    """
    columns = {
        "load_pct": 100.0 * load,
        "speed_rpm": base.speed0 * running * (1.0 - base.slip * load),
        "motor_current_a": base.current0
        * (base.current_idle + (1 - base.current_idle) * load)
        * running,
        "pressure_bar": base.pressure0
        * (base.pressure_idle + base.pressure_gain * load)
        * running**2,
        "bearing_temp_c": temp,
        "vibration_rms_mm_s": base.vib0 * (0.75 + 0.4 * load) * running + 0.03 * (1 - running),
        "vibration_hf_g": base.hf0 * (0.85 + 0.3 * load) * running + 0.005 * (1 - running),
        "flow_m3_h": base.flow0 * (base.flow_idle + base.flow_gain * load) * running,
    }
    return np.stack([columns[name] for name in CHANNELS], axis=-1)
