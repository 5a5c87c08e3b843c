"""A run's Markdown section and its summary values (ratios of readings per second per core)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from bench.speed.runner import ARENAS, ArmResult
from bench.speed.targets import render_targets

if TYPE_CHECKING:
    from bench.speed.latency import LatencyResult
    from bench.speed.memory import MemoryResult
    from bench.speed.run import Options

__all__ = ["Extras", "render_section", "summarise"]


@dataclass
class Extras:
    """Measurements that are not a drain: latency (e), memory and state (f), run time."""

    latency: LatencyResult | None = None
    memory: MemoryResult | None = None
    duration_s: float = 0.0


def _ratio(results: dict[str, ArmResult], top: str, bottom: str) -> float | None:
    if top not in results or bottom not in results or results[bottom].per_core <= 0:
        return None
    return results[top].per_core / results[bottom].per_core


def _rate(results: dict[str, ArmResult], name: str) -> float | None:
    return results[name].per_core if name in results else None


def summarise(results: dict[str, ArmResult], extras: Extras) -> dict[str, float | None]:
    """The summary lines: the five that outside checks read, then more detail."""
    latency, memory = extras.latency, extras.memory
    return {
        "linewatch/quix": _ratio(results, "linewatch", "quix"),
        "linewatch/naive": _ratio(results, "linewatch", "naive"),
        "passthrough_readings_per_s_per_core": _rate(results, "passthrough"),
        "p99_latency_ms": latency.p99_ms if latency else None,
        "rss_mb_per_1000_assets": memory.rss_mb_per_1000_assets if memory else None,
        "linewatch_readings_per_s_per_core": _rate(results, "linewatch"),
        "quix_readings_per_s_per_core": _rate(results, "quix"),
        "naive_readings_per_s_per_core": _rate(results, "naive"),
        "handloop_readings_per_s_per_core": _rate(results, "handloop"),
        "passthrough/handloop": _ratio(results, "passthrough", "handloop"),
        "p50_latency_ms": latency.p50_ms if latency else None,
        "latency_service_cores": latency.service_cores if latency else None,
        "latency_seconds_ok_share": latency.seconds_ok_share if latency else None,
        "machine_stalls": latency.machine_stalls if latency else None,
        "snapshot_bytes_per_asset": memory.snapshot_bytes_per_asset if memory else None,
        "restore_s_per_1000_assets": memory.restore_s_per_1000_assets if memory else None,
        "state_heap_mb_per_1000_assets": memory.heap_mb_per_1000_assets if memory else None,
    }


def render_section(
    when: datetime,
    options: Options,
    machine: list[tuple[str, str]],
    rows: list[ArmResult],
    extras: Extras,
    summary: dict[str, float | None],
) -> str:
    """The Markdown of one run: set-up, machine and versions, one row per arm's round, the
    extras, and the issue's targets checked against the run's ``summary``."""
    lines = [
        f"## Run {when:%Y-%m-%d %H:%M} UTC",
        "",
        f"{options.readings:,} readings requested over {options.assets:,} assets (8 channels), "
        f"{options.partitions} partitions; arms: {', '.join(options.arms)}; "
        f"niceness {os.nice(0) + options.nice}; "
        f"MALLOC_ARENA_MAX={os.environ.get('MALLOC_ARENA_MAX', ARENAS['MALLOC_ARENA_MAX'])}; "
        f"whole run {extras.duration_s / 60:.1f} min"
        + (
            f"; every arm's commit interval {options.commit_interval_s:g} s."
            if options.commit_interval_s is not None
            else "."
        )
        + (
            f" Drain arms run {options.repeat} times in turn; the summary takes each arm's "
            "best round (readings/s per core)."
            if options.repeat > 1
            else ""
        ),
        "",
        "| machine / version | |",
        "|---|---|",
        *[f"| {what} | {value} |" for what, value in machine],
        "",
        "| arm | readings | scores | CPU s | wall s | readings/s/core | readings/s | RSS MB "
        "| settings |",
        "|---|---|---|---|---|---|---|---|---|",
        *[_row(result) for result in rows],
    ]
    if extras.latency is not None:
        lines += ["", *extras.latency.describe()]
    if extras.memory is not None:
        lines += ["", *extras.memory.describe()]
    lines += ["", *render_targets(summary)]
    return "\n".join(lines)


def _row(r: ArmResult) -> str:
    return (
        f"| {r.name} | {r.readings:,} | {r.scores:,} | {r.cpu_s:.1f} | {r.wall_s:.1f} "
        f"| {r.per_core:,.0f} | {r.per_s:,.0f} | {r.rss_bytes / 1e6:.0f} | {r.note} |"
    )
