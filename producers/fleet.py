"""A deterministic fleet of machines of several types, with faults and ground-truth labels.

A slowly wandering load (plus a type-specific duty cycle, e.g. a press stroke) drives motor
current, speed slip, pressure, flow, vibration and, through a thermal lag, bearing temperature;
every channel carries sensor noise. Healthy signals are stationary by default, so an online
detector learns them quickly; optional shifts add real regime changes (a load level per shift,
shut-down and start-up between shifts), optional dropouts skip readings and optional glitches
spike single values. Faults (:mod:`producers.faults`) bend the channels from onset to failure;
a failed machine stands still until its maintenance, then starts up healthy.

Generation is vectorised over blocks of ticks and the whole fleet; a tick is one reading per
asset. Within a tick, asset ``i`` reads ``i / assets`` of an interval after asset 0 (or at the
``phases`` given, e.g. :func:`producers.partitioning.phases_by_partition`), and each tick's
readings come in that order, so timestamps of the merged stream never go backwards. Each
asset's signals depend only on ``seed``, its index and its machine type.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal, cast

import numpy as np
import numpy.typing as npt

from pipeline.messages import Label, Reading
from producers.faults import FAULT_DURATION_S, FaultSpec
from producers.machines import CHANNELS, Baselines, healthy, machine_types_for
from producers.placed import PlacedFault, bend, freeze
from producers.records import Encoded, Record, encoded_reading
from producers.regimes import STARTUP_S, shift_schedule, startup_ramp
from producers.wear import Wear, WearSpan, apply_wear, wear_direction

__all__ = ["Disturbances", "Encoded", "Fleet", "Record", "asset_name", "interval_for_rate"]

Array = npt.NDArray[np.float64]
_Make = Callable[[str, int, dict[str, float], int, str | None], Reading | Encoded]
_Events = dict[int, list[tuple[int, str, Literal["fault_start", "failure", "maintenance"]]]]
"""Label events by tick: (asset column, fault kind, label kind)."""

_DECIMALS = np.array([2, 1, 2, 3, 2, 3, 4, 2], dtype=np.float64)
_REL_NOISE = np.array([0.005, 0.001, 0.015, 0.01, 0.0, 0.04, 0.05, 0.015])
_ABS_NOISE = np.array([0.0, 0.0, 0.0, 0.0, 0.25, 0.0, 0.0, 0.0])
_LOAD_TAU_S = np.array([1.5, 60.0])  # a fast and a slow wander of the load ...
_LOAD_SD = np.array([0.03, 0.008])  # ... and their stationary standard deviations
_TEMP_TAU_S = 45.0
_BLOCK_READINGS = 1 << 15
REPAIR_S = 300.0
"""Default simulated seconds from a failure to its maintenance (then the machine restarts)."""


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
class Disturbances:
    """Sensor-side imperfections, each a probability per reading (all off by default).

    ``dropout``: the reading never arrives (its ``seq`` is skipped). ``glitch``: one channel
    reads 0 or eight times its value for one reading.
    """

    dropout: float = 0.0
    glitch: float = 0.0

    def __post_init__(self) -> None:
        for name in ("dropout", "glitch"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(
                    f"{name} must be a probability in [0, 1), got {getattr(self, name)}"
                )


def _offsets(assets: int, phases: Sequence[float] | None) -> Array:
    """Each asset's phase within a tick: ``phases``, checked, or evenly spread in index order."""
    if phases is None:
        return np.arange(assets, dtype=np.float64) / assets
    offsets = np.asarray(phases, dtype=np.float64)
    if offsets.shape != (assets,):
        raise ValueError(f"phases needs one value per asset ({assets}), got {len(offsets)}")
    if not np.all((offsets >= 0.0) & (offsets < 1.0)):
        raise ValueError("phases must be fractions of the interval, each in [0, 1)")
    return offsets


class _Run:
    """The mutable state of one pass over the stream: generators, lags, frozen channels."""

    def __init__(self, seed: int, assets: int, types: Sequence[str]) -> None:
        self.rngs = [np.random.default_rng([seed, index]) for index in range(assets)]
        self.event_rngs = [np.random.default_rng([seed, index, 1]) for index in range(assets)]
        self.base = Baselines(self.rngs, types)
        start = np.array([rng.standard_normal(len(_LOAD_SD)) for rng in self.rngs]).T
        self.wander: Array = _LOAD_SD[:, None] * start  # (terms, assets)
        self.temp = self.base.temp_target(self.base.load0 + self.wander.sum(axis=0))
        self.frozen: dict[int, float] = {}


class Fleet:
    """``assets`` simulated machines reading every ``interval_s``, with ``faults`` injected.

    Iterating yields :class:`Reading` and :class:`Label` records in timestamp order, a label
    just before the first reading it describes. ``seq`` counts each asset's readings from 0.
    ``machine_types`` are cycled over the assets; ``shift_s`` turns on shifts (None: steady
    operation); ``repair_s`` is the time from a failure to its maintenance; ``wear`` adds a
    slow drift before each failing fault (:mod:`producers.wear`, off by default);
    ``phases`` gives each asset's reading time within a tick as a fraction of the interval
    (default ``index / assets``).
    """

    def __init__(
        self,
        assets: int,
        seed: int = 0,
        faults: Sequence[FaultSpec] = (),
        interval_s: float = 0.1,
        start_ts_ms: int = 0,
        line: str | None = None,
        machine_types: Sequence[str] | None = None,
        shift_s: float | None = None,
        repair_s: float = REPAIR_S,
        disturbances: Disturbances = Disturbances(),
        wear: Wear | None = None,
        phases: Sequence[float] | None = None,
    ) -> None:
        if assets < 1:
            raise ValueError(f"a fleet needs at least one asset, got {assets}")
        if not (interval_s > 0 and math.isfinite(interval_s)):
            raise ValueError(f"interval_s must be a finite number > 0, got {interval_s}")
        if start_ts_ms < 0:
            raise ValueError(f"start_ts_ms must not be negative, got {start_ts_ms}")
        if shift_s is not None and not shift_s > 0:
            raise ValueError(f"shift_s must be > 0, got {shift_s}")
        self.assets, self.seed, self.interval_s = assets, seed, interval_s
        self.start_ts_ms, self.line = start_ts_ms, line
        self.shift_s, self.repair_s, self.disturbances = shift_s, repair_s, disturbances
        self.names = tuple(asset_name(index) for index in range(assets))
        self.types = (
            machine_types_for(assets)
            if machine_types is None
            else machine_types_for(assets, machine_types)
        )
        self._offsets = _offsets(assets, phases)
        order = np.argsort(self._offsets, kind="stable").tolist()
        self._columns = [(column, self.names[column]) for column in order]
        """``(column, name)`` in the order the assets read within a tick."""
        self._faults = [self._place(spec) for spec in faults]
        self.wear = wear or Wear()
        self._wear = self._wear_spans() if self.wear.seconds > 0 else []

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
        return cast(Iterator[Record], self._records(ticks, Reading))

    def encoded(self, ticks: int | None = None) -> Iterator[Encoded | Label]:
        """:meth:`records` with each reading already encoded for Kafka (a third faster).

        >>> from pipeline.messages import encode
        >>> fleet = Fleet(2, seed=1)
        >>> all(encode(r) == e.payload for r, e in zip(fleet.records(5), fleet.encoded(5)))
        True
        """
        return cast(Iterator[Encoded | Label], self._records(ticks, encoded_reading))

    def _records(self, ticks: int | None, make: _Make) -> Iterator[Reading | Encoded | Label]:
        run = _Run(self.seed, self.assets, self.types)
        events = self._label_events()
        block = max(16, _BLOCK_READINGS // self.assets)
        first = 0
        while ticks is None or first < ticks:
            size = block if ticks is None else min(block, ticks - first)
            yield from self._emit(make, first, *self._block(run, first, size), events)
            first += size

    def _place(self, spec: FaultSpec) -> PlacedFault:
        if spec.asset not in self.names:
            raise ValueError(
                f"fault on unknown asset {spec.asset!r}: the fleet has {self.names[0]}"
                f"..{self.names[-1]}"
            )
        column = self.names.index(spec.asset)
        duration = FAULT_DURATION_S[spec.kind]
        onset = self._tick_at(spec.at_s, column)
        if duration is None:
            return PlacedFault(spec, column, onset, None, math.inf, None, math.inf)
        end = self._tick_at(spec.at_s + duration, column)
        repair = self._tick_at(spec.at_s + duration + self.repair_s, column)
        return PlacedFault(
            spec,
            column,
            onset,
            end,
            self._time_of(end, column),
            repair,
            self._time_of(repair, column),
        )

    def _wear_spans(self) -> list[WearSpan]:
        """Each failing fault's wear stretch, from ``wear.seconds`` before its onset (but not
        before the asset is up to speed again after its previous repair) to its failure."""
        spans = []
        failing = sorted(
            (f for f in self._faults if f.end_tick is not None), key=lambda f: f.spec.at_s
        )
        for fault in failing:
            restarts = [
                other.repair_at_s + STARTUP_S
                for other in failing
                if other.column == fault.column and other.end_s <= fault.spec.at_s
            ]
            start = max([fault.spec.at_s - self.wear.seconds, *restarts])
            direction = wear_direction(fault.spec.kind, np.ones(len(CHANNELS)))
            spans.append(WearSpan(fault.column, start, fault.spec.at_s, fault.end_s, direction))
        return spans

    def _tick_at(self, at_s: float, column: int) -> int:
        """The first tick at which asset ``column``'s clock reads at least ``at_s``."""
        return max(0, math.ceil(at_s / self.interval_s - float(self._offsets[column]) - 1e-9))

    def _time_of(self, tick: int, column: int) -> float:
        return (tick + float(self._offsets[column])) * self.interval_s

    def _label_events(self) -> _Events:
        events: _Events = {}
        for fault in self._faults:
            kind, column = fault.spec.kind, fault.column
            events.setdefault(fault.onset_tick, []).append((column, kind, "fault_start"))
            if fault.end_tick is not None and fault.repair_tick is not None:
                events.setdefault(fault.end_tick, []).append((column, kind, "failure"))
                events.setdefault(fault.repair_tick, []).append((column, kind, "maintenance"))
        return events

    def _emit(
        self,
        make: _Make,
        first: int,
        stamps: list[list[int]],
        values: list[list[list[float]]],
        dropped: set[tuple[int, int]],
        events: _Events,
    ) -> Iterator[Reading | Encoded | Label]:
        columns, line = self._columns, self.line
        for row, (row_stamps, row_values) in enumerate(zip(stamps, values, strict=True)):
            tick = first + row
            due = events.get(tick)
            if due is None and not dropped:  # the common case, kept tight
                for column, name in columns:
                    channels = dict(zip(CHANNELS, row_values[column], strict=True))
                    yield make(name, row_stamps[column], channels, tick, line)
                continue
            for column, name in columns:
                if due is not None:
                    for col, kind, label in due:
                        if col == column:
                            yield Label(name, row_stamps[column], label, kind)
                if (row, column) in dropped:
                    continue
                channels = dict(zip(CHANNELS, row_values[column], strict=True))
                yield make(name, row_stamps[column], channels, tick, line)

    def _block(
        self, run: _Run, first: int, size: int
    ) -> tuple[list[list[int]], list[list[list[float]]], set[tuple[int, int]]]:
        """Timestamps ``(size, assets)``, values ``(size, assets, channels)``, dropped cells."""
        ticks = np.arange(first, first + size, dtype=np.float64)[:, None] + self._offsets
        t = ticks * self.interval_s
        stamps = np.floor(self.start_ts_ms + t * 1000.0 + 0.5).astype(np.int64)
        width = len(CHANNELS) + len(_LOAD_SD)
        noise = np.stack([rng.standard_normal((size, width)) for rng in run.rngs], axis=1)
        events = np.stack([rng.random((size, 3)) for rng in run.event_rngs], axis=1)
        own = np.broadcast_to((ticks - self._offsets) * self.interval_s, t.shape)
        running, level = self._regime(t, own)
        shocks = noise[:, :, len(CHANNELS) :].transpose(0, 2, 1)
        load, temp = self._dynamics(run, own, shocks, level * running)
        values = healthy(run.base, load, temp, running)
        apply_wear(self._wear, self.wear, values, t, _REL_NOISE, _ABS_NOISE)
        spread = np.broadcast_to(_REL_NOISE, values.shape).copy()
        for fault in self._faults:
            bend(fault, values, spread, t, first)
        sensor = noise[:, :, : len(CHANNELS)]
        values = values * np.exp(spread * sensor) + _ABS_NOISE * sensor
        values = self._glitch(values, events)
        scale = 10.0**_DECIMALS
        values = np.round(np.maximum(values, 0.0) * scale) / scale
        for fault in self._faults:
            if fault.spec.kind == "stuck_sensor":
                freeze(run.frozen, fault, values, first)
        rows, columns = np.nonzero(events[:, :, 0] < self.disturbances.dropout)
        dropped = set(zip(rows.tolist(), columns.tolist(), strict=True))
        return stamps.tolist(), values.tolist(), dropped

    def _regime(self, t: Array, own: Array) -> tuple[Array, Array]:
        """Speed fraction and load level ``(ticks, assets)`` from shifts, failures and repairs.

        ``t`` is each asset's time on the fleet clock, ``own`` the time since its first reading
        (so shifts and duty cycles do not depend on the fleet's size).
        """
        if self.shift_s is None:
            running, level = np.ones_like(t), np.ones_like(t)
        else:
            level, running = shift_schedule(own, self.shift_s, self.seed)
        for fault in self._faults:
            if fault.end_tick is None:
                continue
            clock = t[:, fault.column]
            restart = startup_ramp(clock - fault.repair_at_s)
            running[:, fault.column] *= np.where(clock < fault.end_s - 1e-9, 1.0, restart)
        return running, level

    def _glitch(self, values: Array, events: Array) -> Array:
        """Replace one channel of a few readings by 0 or eight times its value."""
        rows, columns = np.nonzero(events[:, :, 1] < self.disturbances.glitch)
        if rows.size:
            pick = events[rows, columns, 2] * len(CHANNELS)
            channel = pick.astype(np.int64)
            spike = np.where(pick - channel < 0.5, 0.0, 8.0)
            values[rows, columns, channel] *= spike
        return values

    def _dynamics(self, run: _Run, t: Array, shocks: Array, scale: Array) -> tuple[Array, Array]:
        """Load (fast and slow AR(1) wander + duty cycle) and the lagging bearing temperature."""
        base, dt = run.base, self.interval_s
        keep = np.exp(-dt / _LOAD_TAU_S)[:, None]
        shocks = shocks * (_LOAD_SD[:, None] * np.sqrt(1.0 - keep * keep))  # (ticks, terms, assets)
        state, wander = run.wander, np.empty_like(t)
        for row in range(t.shape[0]):
            state = keep * state + shocks[row]
            wander[row] = state.sum(axis=0)
        cycle = np.sin(2 * math.pi * t / base.duty_period + base.duty_phase)
        load = np.clip(base.load0 + wander + base.duty_depth * cycle, 0.05, 1.0) * scale
        load = np.clip(load, 0.0, 1.0)
        targets = base.temp_target(load)
        heat, temp, current = 1.0 - math.exp(-dt / _TEMP_TAU_S), np.empty_like(t), run.temp
        for row in range(t.shape[0]):
            current = current + heat * (targets[row] - current)
            temp[row] = current
        run.wander, run.temp = state, current
        return load, temp
