"""A deterministic fleet of rotating machines (motor + pump) with injected faults.

Every asset has coupled channels: a slowly wandering load drives motor current, speed slip,
discharge pressure, vibration and (through a thermal lag) bearing temperature; every channel
carries sensor noise. Healthy signals are stationary, so an online detector learns them quickly;
faults bend them in ways a plant engineer would recognise. The same arguments always produce the
same stream, and each asset's signals depend only on ``seed`` and its index.

Generation is vectorised over blocks of ticks and the whole fleet; a tick is one reading per
asset. Within a tick, asset ``i`` reads ``i / assets`` of an interval after asset 0, so
timestamps of the merged stream never go backwards and readings are spread evenly in time.

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
['bearing_temp_c', 'load_pct', 'motor_current_a', 'pressure_bar', 'speed_rpm',
 'vibration_hf_g', 'vibration_rms_mm_s']
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal, cast, get_args

import numpy as np
import numpy.typing as npt

from pipeline.messages import Label, Reading

__all__ = [
    "CHANNELS",
    "FAULT_DURATION_S",
    "FaultKind",
    "FaultSpec",
    "Fleet",
    "Record",
    "STUCK_CHANNEL",
    "asset_name",
    "interval_for_rate",
]

FaultKind = Literal["bearing_wear", "overheating", "imbalance", "stuck_sensor"]
Record = Reading | Label
Array = npt.NDArray[np.float64]
_Events = dict[int, list[tuple[int, str, Literal["fault_start", "failure"]]]]
"""Label events by tick: (asset column, fault kind, label kind)."""

CHANNELS: tuple[str, ...] = (
    "load_pct",
    "speed_rpm",
    "motor_current_a",
    "pressure_bar",
    "bearing_temp_c",
    "vibration_rms_mm_s",
    "vibration_hf_g",
)
"""Channel names, with units: percent, rev/min, ampere, bar (gauge), deg C, mm/s RMS, g (HF)."""

FAULT_DURATION_S: dict[FaultKind, float | None] = {
    "bearing_wear": 60.0,
    "overheating": 90.0,
    "imbalance": None,
    "stuck_sensor": None,
}
"""Simulated seconds from onset to ``failure``; ``None`` means the fault persists, no failure."""

STUCK_CHANNEL = "bearing_temp_c"
"""The channel a ``stuck_sensor`` fault freezes."""

_DECIMALS = np.array([2, 1, 2, 3, 2, 3, 4], dtype=np.float64)
_REL_NOISE = np.array([0.005, 0.001, 0.015, 0.01, 0.0, 0.04, 0.05])
_ABS_NOISE = np.array([0.0, 0.0, 0.0, 0.0, 0.25, 0.0, 0.0])
_LOAD, _SPEED, _CURRENT, _PRESSURE, _TEMP, _VIB, _HF = range(len(CHANNELS))
_BEARING_GAIN = np.array([0.0, -0.006, 0.12, 0.0, 0.0, 1.5, 3.0])
_BEARING_STEP = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.3, 2.0])
_BEARING_SPREAD = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.1, 0.4])
_BEARING_ONSET_S = 8.0
_LOAD_TAU_S = np.array([1.5, 60.0])  # a fast and a slow wander of the load ...
_LOAD_SD = np.array([0.03, 0.008])  # ... and their stationary standard deviations
_DUTY_AMPLITUDE, _TEMP_TAU_S, _COOL_TAU_S = 0.005, 45.0, 120.0
_BLOCK_READINGS = 1 << 15


def asset_name(index: int) -> str:
    """The name of the asset at ``index``: ``asset-000``, ``asset-001``, ..."""
    return f"asset-{index:03d}"


def interval_for_rate(assets: int, rate: float) -> float:
    """Seconds between one asset's readings when the fleet sends ``rate`` readings per second.

    >>> interval_for_rate(10, 100.0)
    0.1
    """
    if assets < 1 or not rate > 0 or not math.isfinite(rate):
        raise ValueError(f"need assets >= 1 and a finite rate > 0, got {assets} and {rate}")
    return assets / rate


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


@dataclass(frozen=True, slots=True)
class _Fault:
    """A fault placed on the fleet's tick grid."""

    spec: FaultSpec
    column: int
    onset_tick: int
    end_tick: int | None  # first tick of the failed (stopped) state
    end_s: float  # that tick's time on the asset's clock (inf without failure)


class _Baselines:
    """Per-asset constants drawn from each asset's own generator (shape ``(assets,)``)."""

    def __init__(self, rngs: Sequence[np.random.Generator]) -> None:
        draws: Array = np.array([rng.random(10) for rng in rngs]).T
        self.load0 = 0.55 + 0.25 * draws[0]
        self.speed0 = 1470.0 + 20.0 * draws[1]
        self.current0 = 20.0 + 25.0 * draws[2]
        self.pressure0 = 4.0 + 4.0 * draws[3]
        self.ambient = 20.0 + 8.0 * draws[4]
        self.temp_rise = 25.0 + 15.0 * draws[5]
        self.vib0 = 1.2 + 1.6 * draws[6]
        self.hf0 = 0.2 + 0.3 * draws[7]
        self.duty_phase = 2 * math.pi * draws[8]
        self.duty_period = 60.0 + 120.0 * draws[9]

    def temp_target(self, load: Array) -> Array:
        """Bearing temperature the asset settles at under ``load``."""
        target: Array = self.ambient + self.temp_rise * load
        return target


class _Run:
    """The mutable state of one pass over the stream: generators, lags, frozen channels."""

    def __init__(self, seed: int, assets: int) -> None:
        self.rngs = [np.random.default_rng([seed, index]) for index in range(assets)]
        self.base = _Baselines(self.rngs)
        start = np.array([rng.standard_normal(len(_LOAD_SD)) for rng in self.rngs]).T
        self.wander: Array = _LOAD_SD[:, None] * start  # (terms, assets)
        self.temp = self.base.temp_target(self.base.load0 + self.wander.sum(axis=0))
        self.frozen: dict[int, float] = {}


class Fleet:
    """``assets`` simulated machines reading every ``interval_s``, with ``faults`` injected.

    Iterating yields :class:`Reading` and :class:`Label` records in timestamp order, a label
    just before the first reading it describes. ``seq`` counts each asset's readings from 0.
    """

    def __init__(
        self,
        assets: int,
        seed: int = 0,
        faults: Sequence[FaultSpec] = (),
        interval_s: float = 0.1,
        start_ts_ms: int = 0,
        line: str | None = None,
    ) -> None:
        if assets < 1:
            raise ValueError(f"a fleet needs at least one asset, got {assets}")
        if not (interval_s > 0 and math.isfinite(interval_s)):
            raise ValueError(f"interval_s must be a finite number > 0, got {interval_s}")
        if start_ts_ms < 0:
            raise ValueError(f"start_ts_ms must not be negative, got {start_ts_ms}")
        self.assets, self.seed, self.interval_s = assets, seed, interval_s
        self.start_ts_ms, self.line = start_ts_ms, line
        self.names = tuple(asset_name(index) for index in range(assets))
        self._offsets = np.arange(assets, dtype=np.float64) / assets
        self._faults = [self._place(spec) for spec in faults]

    def ticks_for(self, duration_s: float) -> int:
        """Ticks (one reading per asset each) in ``duration_s`` simulated seconds.

        >>> Fleet(10, interval_s=0.1).ticks_for(0.3)
        3
        """
        return max(0, math.ceil(duration_s / self.interval_s - 1e-9))

    def __iter__(self) -> Iterator[Record]:
        return self.records()

    def records(self, ticks: int | None = None) -> Iterator[Record]:
        """The stream from the start; ``ticks=None`` never ends."""
        run = _Run(self.seed, self.assets)
        events = self._label_events()
        block = max(16, _BLOCK_READINGS // self.assets)
        first = 0
        while ticks is None or first < ticks:
            size = block if ticks is None else min(block, ticks - first)
            yield from self._emit(first, *self._block(run, first, size), events)
            first += size

    def _place(self, spec: FaultSpec) -> _Fault:
        if spec.asset not in self.names:
            raise ValueError(
                f"fault on unknown asset {spec.asset!r}: the fleet has {self.names[0]}"
                f"..{self.names[-1]}"
            )
        column = self.names.index(spec.asset)
        duration = FAULT_DURATION_S[spec.kind]
        end = None if duration is None else self._tick_at(spec.at_s + duration, column)
        end_s = math.inf if end is None else (end + column / self.assets) * self.interval_s
        return _Fault(spec, column, self._tick_at(spec.at_s, column), end, end_s)

    def _tick_at(self, at_s: float, column: int) -> int:
        """The first tick at which asset ``column``'s clock reads at least ``at_s``."""
        return max(0, math.ceil(at_s / self.interval_s - float(self._offsets[column]) - 1e-9))

    def _label_events(self) -> _Events:
        events: _Events = {}
        for fault in self._faults:
            kind = fault.spec.kind
            events.setdefault(fault.onset_tick, []).append((fault.column, kind, "fault_start"))
            if fault.end_tick is not None:
                events.setdefault(fault.end_tick, []).append((fault.column, kind, "failure"))
        return events

    def _emit(
        self,
        first: int,
        stamps: list[list[int]],
        values: list[list[list[float]]],
        events: _Events,
    ) -> Iterator[Record]:
        names, line = self.names, self.line
        for row, (row_stamps, row_values) in enumerate(zip(stamps, values, strict=True)):
            tick = first + row
            due = events.get(tick)
            for column, name in enumerate(names):
                if due is not None:
                    for col, kind, label in due:
                        if col == column:
                            yield Label(name, row_stamps[column], label, kind)
                channels = dict(zip(CHANNELS, row_values[column], strict=True))
                yield Reading(name, row_stamps[column], channels, tick, line)

    def _block(
        self, run: _Run, first: int, size: int
    ) -> tuple[list[list[int]], list[list[list[float]]]]:
        """Timestamps ``(size, assets)`` and values ``(size, assets, channels)`` as lists."""
        ticks = np.arange(first, first + size, dtype=np.float64)[:, None] + self._offsets
        t = ticks * self.interval_s
        stamps = np.floor(self.start_ts_ms + t * 1000.0 + 0.5).astype(np.int64)
        width = len(CHANNELS) + len(_LOAD_SD)
        noise = np.stack([rng.standard_normal((size, width)) for rng in run.rngs], axis=1)
        load, temp = self._dynamics(run, t, noise[:, :, len(CHANNELS) :].transpose(0, 2, 1))
        values = _healthy(run.base, load, temp)
        spread = np.broadcast_to(_REL_NOISE, values.shape).copy()
        for fault in self._faults:
            _bend(fault, values, spread, t, first)
        for fault in self._faults:
            _stop(fault, values, t, first, float(run.base.ambient[fault.column]))
        sensor = noise[:, :, : len(CHANNELS)]
        values = values * np.exp(spread * sensor) + _ABS_NOISE * sensor
        scale = 10.0**_DECIMALS
        values = np.round(np.maximum(values, 0.0) * scale) / scale
        for fault in self._faults:
            if fault.spec.kind == "stuck_sensor":
                _freeze(run, fault, values, first)
        return stamps.tolist(), values.tolist()

    def _dynamics(self, run: _Run, t: Array, shocks: Array) -> tuple[Array, Array]:
        """Load (fast and slow AR(1) wander + duty cycle) and the lagging bearing temperature."""
        base, dt = run.base, self.interval_s
        keep = np.exp(-dt / _LOAD_TAU_S)[:, None]
        shocks = shocks * (_LOAD_SD[:, None] * np.sqrt(1.0 - keep * keep))  # (ticks, terms, assets)
        state, wander = run.wander, np.empty_like(t)
        for row in range(t.shape[0]):
            state = keep * state + shocks[row]
            wander[row] = state.sum(axis=0)
        duty = _DUTY_AMPLITUDE * np.sin(2 * math.pi * t / base.duty_period + base.duty_phase)
        load = np.clip(base.load0 + wander + duty, 0.05, 1.0)
        targets = base.temp_target(load)
        heat, temp, current = 1.0 - math.exp(-dt / _TEMP_TAU_S), np.empty_like(t), run.temp
        for row in range(t.shape[0]):
            current = current + heat * (targets[row] - current)
            temp[row] = current
        run.wander, run.temp = state, current
        return load, temp


def _healthy(base: _Baselines, load: Array, temp: Array) -> Array:
    """Noise-free values ``(ticks, assets, channels)`` of healthy assets under ``load``."""
    columns = {
        "load_pct": 100.0 * load,
        "speed_rpm": base.speed0 * (1.0 - 0.015 * load),
        "motor_current_a": base.current0 * (0.3 + 0.7 * load),
        "pressure_bar": base.pressure0 * (0.5 + 0.6 * load),
        "bearing_temp_c": temp,
        "vibration_rms_mm_s": base.vib0 * (0.75 + 0.4 * load),
        "vibration_hf_g": base.hf0 * (0.85 + 0.3 * load),
    }
    return np.stack([columns[name] for name in CHANNELS], axis=-1)


def _bend(fault: _Fault, values: Array, spread: Array, t: Array, first: int) -> None:
    """Bend one asset's values and noise spread (in place) for this block's faulty ticks."""
    start = max(0, fault.onset_tick - first)
    if start >= t.shape[0] or fault.spec.kind == "stuck_sensor":
        return
    since = t[start:, fault.column] - fault.spec.at_s
    duration = FAULT_DURATION_S[fault.spec.kind]
    progress = np.clip(since / duration, 0.0, 1.0) if duration else np.ones_like(since)
    effect = _EFFECTS[fault.spec.kind]
    effect(values[start:, fault.column], spread[start:, fault.column], progress[:, None], since)


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


_EFFECTS = {"bearing_wear": _bearing_wear, "overheating": _overheating, "imbalance": _imbalance}


def _stop(fault: _Fault, values: Array, t: Array, first: int, ambient: float) -> None:
    """After a failure the machine stands still and its bearing cools toward ambient."""
    if fault.end_tick is None or fault.end_tick - first >= t.shape[0]:
        return
    start = max(0, fault.end_tick - first)
    since = t[start:, fault.column] - fault.end_s
    stopped = values[start:, fault.column]
    stopped[:, [_LOAD, _SPEED, _CURRENT, _PRESSURE]] = 0.0
    stopped[:, _VIB], stopped[:, _HF] = 0.03, 0.005
    stopped[:, _TEMP] = ambient + (stopped[:, _TEMP] - ambient) * np.exp(-since / _COOL_TAU_S)


def _freeze(run: _Run, fault: _Fault, values: Array, first: int) -> None:
    """Hold the stuck channel at the value it read at onset."""
    start = fault.onset_tick - first
    if start >= values.shape[0]:
        return
    channel = CHANNELS.index(STUCK_CHANNEL)
    if fault.column not in run.frozen:
        run.frozen[fault.column] = float(values[start, fault.column, channel])
    values[max(0, start) :, fault.column, channel] = run.frozen[fault.column]
