"""A simulated production process: one row per produced batch, parameters and two KPIs.

A deterministic (seeded) extrusion-like line. Every ``interval_s`` one batch is produced and
logged with its process parameters and its outcome:

- ``temperature_c`` — barrel temperature, wandering around a setpoint that changes with the
  product (every ``changeover`` rows);
- ``pressure_bar`` — melt pressure, partly following temperature;
- ``line_speed_m_min`` and ``feed_rate_kg_h`` — speed, and the feed that mostly follows it;
- ``humidity_pct`` — hall humidity with a daily cycle;
- ``material_quality`` — the raw-material lot's quality index, constant within a lot;
- targets ``energy_kwh_per_t`` (energy per tonne) and ``yield_pct`` (good output share).

Both targets depend on the parameters mostly linearly, plus a small temperature x humidity
interaction, noise, and a slow drift that no column shows: the tool (screw and die) wears
over ``wear_period_rows`` rows, raising energy and lowering yield, until it is changed and the
wear starts again. ``drift`` scales that wear (0: none).

Examples
--------
>>> table = process_table(rows=3, seed=1)
>>> list(table.columns)  # doctest: +NORMALIZE_WHITESPACE
['timestamp', 'temperature_c', 'pressure_bar', 'line_speed_m_min', 'feed_rate_kg_h',
 'humidity_pct', 'material_quality', 'energy_kwh_per_t', 'yield_pct']
>>> table["timestamp"].tolist()
['2024-01-01T00:00:00Z', '2024-01-01T00:01:00Z', '2024-01-01T00:02:00Z']
>>> process_table(rows=3, seed=1).equals(table)
True
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = [
    "PARAMETERS",
    "PARQUET_SUFFIXES",
    "TARGETS",
    "ProcessSpec",
    "process_table",
    "write_table",
]

PARAMETERS = (
    "temperature_c",
    "pressure_bar",
    "line_speed_m_min",
    "feed_rate_kg_h",
    "humidity_pct",
    "material_quality",
)
"""The process parameters, in column order."""
TARGETS = ("energy_kwh_per_t", "yield_pct")
"""The KPI columns, after the parameters."""
PARQUET_SUFFIXES = (".parquet", ".pq")

_Array = npt.NDArray[np.float64]
_DAY_S = 86_400.0


@dataclass(frozen=True)
class ProcessSpec:
    """How the simulated line behaves (the defaults are what ``simulate-process`` writes)."""

    interval_s: float = 60.0
    """Seconds between two batches (the timestamp step)."""
    start: str = "2024-01-01T00:00:00Z"
    """Timestamp of the first batch."""
    changeover: int = 480
    """Rows between product changeovers (a new temperature setpoint)."""
    lot_rows: int = 240
    """Rows per raw-material lot (a new quality index)."""
    wear_period_rows: int = 10_080
    """Rows between tool changes (a week at one batch a minute)."""
    drift: float = 1.0
    """Scale of the hidden tool-wear drift (0: none)."""
    noise: float = 1.0
    """Scale of the targets' measurement noise."""


def process_table(rows: int, seed: int = 0, spec: ProcessSpec | None = None) -> pd.DataFrame:
    """``rows`` batches of the simulated line, the same for the same ``seed`` and ``spec``.

    Parameters
    ----------
    rows
        Number of batches (rows), at least 1.
    seed
        Random seed.
    spec
        The line's behaviour; :class:`ProcessSpec` defaults when ``None``.
    """
    if rows < 1:
        raise ValueError(f"rows must be at least 1, not {rows}")
    spec = spec or ProcessSpec()
    rng = np.random.default_rng(seed)
    params = _parameters(rows, rng, spec)
    energy, yield_pct = _targets(params, rows, rng, spec)
    frame = pd.DataFrame({"timestamp": _timestamps(rows, spec)})
    for name in PARAMETERS:
        frame[name] = np.round(params[name], 4)
    frame["energy_kwh_per_t"] = np.round(energy, 4)
    frame["yield_pct"] = np.round(yield_pct, 4)
    return frame


def write_table(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` to ``path``: Parquet for ``.parquet``/``.pq``, else CSV."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in PARQUET_SUFFIXES:
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)


def _timestamps(rows: int, spec: ProcessSpec) -> list[str]:
    start = pd.Timestamp(spec.start)
    stamps = start + pd.to_timedelta(np.arange(rows) * spec.interval_s, unit="s")
    return [stamp.strftime("%Y-%m-%dT%H:%M:%SZ") for stamp in stamps]


def _ar1(rows: int, rng: np.random.Generator, phi: float, sd: float) -> _Array:
    """A stationary AR(1) series with marginal standard deviation ``sd``."""
    shocks = rng.normal(0.0, sd * np.sqrt(1.0 - phi * phi), rows)
    out = np.empty(rows)
    out[0] = rng.normal(0.0, sd)
    for i in range(1, rows):
        out[i] = phi * out[i - 1] + shocks[i]
    return out


def _blocks(rows: int, size: int, values: _Array) -> _Array:
    """Piecewise-constant series: ``values[k]`` on rows ``k*size`` to ``(k+1)*size - 1``."""
    return values[np.arange(rows) // max(size, 1)]


def _parameters(rows: int, rng: np.random.Generator, spec: ProcessSpec) -> dict[str, _Array]:
    products = rows // max(spec.changeover, 1) + 1
    lots = rows // max(spec.lot_rows, 1) + 1
    setpoint = _blocks(rows, spec.changeover, rng.choice([178.0, 185.0, 192.0], products))
    temperature = setpoint + _ar1(rows, rng, 0.95, 3.0)
    pressure = 6.0 + 0.04 * (temperature - 185.0) + _ar1(rows, rng, 0.9, 0.35)
    speed = 120.0 + _ar1(rows, rng, 0.98, 12.0)
    feed = 3.6 * speed + _ar1(rows, rng, 0.8, 18.0)
    hours = np.arange(rows) * spec.interval_s / 3600.0
    humidity = 45.0 + 8.0 * np.sin(2.0 * np.pi * hours / 24.0) + _ar1(rows, rng, 0.9, 2.5)
    quality = _blocks(rows, spec.lot_rows, rng.uniform(0.85, 0.99, lots))
    return {
        "temperature_c": temperature,
        "pressure_bar": pressure,
        "line_speed_m_min": speed,
        "feed_rate_kg_h": feed,
        "humidity_pct": humidity,
        "material_quality": quality,
    }


def _targets(
    p: dict[str, _Array], rows: int, rng: np.random.Generator, spec: ProcessSpec
) -> tuple[_Array, _Array]:
    dt = p["temperature_c"] - 185.0
    dp = p["pressure_bar"] - 6.0
    ds = p["line_speed_m_min"] - 120.0
    df = p["feed_rate_kg_h"] - 432.0
    dh = p["humidity_pct"] - 45.0
    dq = p["material_quality"] - 0.92
    wear = spec.drift * (np.arange(rows) % max(spec.wear_period_rows, 1)) / spec.wear_period_rows
    energy = (
        420.0
        + 2.2 * dt
        + 9.0 * dp
        - 0.9 * ds
        + 0.25 * df
        + 0.6 * dh
        - 150.0 * dq
        + 0.03 * dt * dh
        + 6.0 * wear
        + rng.normal(0.0, 4.0 * spec.noise, rows)
    )
    yield_pct = (
        93.0
        + 0.12 * dt
        - 0.8 * dp
        - 0.05 * ds
        + 0.01 * df
        - 0.04 * dh
        + 30.0 * dq
        - 0.002 * dt * dh
        - 0.6 * wear
        + rng.normal(0.0, 0.4 * spec.noise, rows)
    )
    return energy, np.minimum(yield_pct, 100.0)
