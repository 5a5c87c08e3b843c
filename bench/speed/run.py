"""One bench run: preload the input, run the chosen arms on it, write ``bench/RESULTS.md``."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.speed import topics
from bench.speed.arms import QUIX_PYTHON, BenchInput, run_script_arm
from bench.speed.cpus import CpuPlan, allowed, pinned_self, spread
from bench.speed.latency import measure_latency
from bench.speed.machine import describe
from bench.speed.memory import measure_memory
from bench.speed.report import Extras, render_section, summarise
from bench.speed.results import append_run
from bench.speed.runner import ArmResult
from bench.speed.service import ServiceRun, run_service_arm
from pipeline.broker.jars import KAFKA_VERSION

__all__ = ["ARMS", "Options", "cpu_plan", "run"]

ARMS = ("naive", "quix", "linewatch", "passthrough", "handloop", "latency", "memory")
DRAINS = ("naive", "quix", "linewatch", "passthrough", "handloop")
"""The arms that drain the preloaded input (readings per second per core); ``--repeat``
runs them in turn that many times."""


@dataclass(frozen=True)
class Options:
    """What to run; see ``python -m bench.speed --help``."""

    readings: int = 1_000_000
    assets: int = 1_000
    partitions: int = 4
    arms: tuple[str, ...] = ARMS
    bootstrap: str | None = None
    kind: str = "mahalanobis"
    passthrough_kind: str = "robust"
    processing: str = "exactly_once"
    snapshots: bool = True
    latency_seconds: float = 30.0
    latency_rate: float | None = None
    latency_producer: str = "loadgen"
    latency_order: str = "partition"
    """``partition``: the load generator sends each partition's assets in turn; ``asset``: in
    asset order."""
    results: Path | None = None
    nice: int = 0
    timeout_s: float = 3600.0
    commit_interval_s: float | None = None
    workdir: Path | None = None
    repeat: int = 1
    """Rounds of the drain arms, in turn (naive, quix, linewatch, passthrough, handloop, then
    again):
    each arm's figure is its best round, the one the shared machine disturbed least."""
    pin: bool | None = None
    """Drain arms on one CPU, the broker and the bench on the others (:mod:`bench.speed.cpus`);
    ``None``: when the bench starts the broker itself (it cannot place another's)."""


def run(options: Options) -> dict[str, float | None]:
    """Run ``options.arms``; append the run to ``options.results`` (if set); return the summary."""
    began = time.monotonic()
    plan, broker_pids = cpu_plan(options), list[int]()
    with (
        pinned_self(None if plan is None else plan.broker),  # the broker inherits it
        topics.broker(options.bootstrap, started=broker_pids.append) as bootstrap,
        _workdir(options.workdir) as workdir,
    ):
        kafka = f"{KAFKA_VERSION} (local)" if options.bootstrap is None else "external broker"
        machine = describe(QUIX_PYTHON, kafka)
        machine.append(("CPU placement", _placement(plan, options)))
        data = dataclasses.replace(_prepare(bootstrap, options, Path(workdir)), cpus=plan)
        results, rows, extras = _run_arms(data, options, [os.getpid(), *broker_pids])
        topics.delete(bootstrap, [data.topic])
    extras.duration_s = time.monotonic() - began
    summary = summarise(results, extras)
    if options.results is not None:
        section = render_section(datetime.now(UTC), options, machine, rows, extras, summary)
        append_run(options.results, section, summary)
    return summary


def cpu_plan(options: Options) -> CpuPlan | None:
    """Where the arms run: pinned (``options.pin``, by default when the bench starts the
    broker) if this process may use two CPUs or more, else ``None``."""
    pin = options.pin if options.pin is not None else options.bootstrap is None
    return CpuPlan.of(allowed()) if pin else None


def _placement(plan: CpuPlan | None, options: Options) -> str:
    if plan is None:
        return "not pinned"
    external = " (the external broker is not the bench's to place)" if options.bootstrap else ""
    return plan.describe() + external


@contextlib.contextmanager
def _workdir(kept: Path | None) -> Iterator[str]:
    """``kept`` (made if missing, left behind), else a temporary directory."""
    if kept is not None:
        kept.mkdir(parents=True, exist_ok=True)
        yield str(kept)
        return
    with tempfile.TemporaryDirectory(prefix="linewatch-bench-run-") as workdir:
        yield workdir


def _prepare(bootstrap: str, options: Options, workdir: Path) -> BenchInput:
    name = topics.unique("bench.readings")
    topics.create(bootstrap, [name], options.partitions)
    started = time.monotonic()
    sent = topics.preload(bootstrap, name, options.readings, options.assets)
    ends = topics.end_offsets(bootstrap, name, options.partitions)
    if sum(ends.values()) != sent:
        raise RuntimeError(f"{name} holds {sum(ends.values()):,} readings, {sent:,} were sent")
    print(
        f"preloaded {sent:,} readings over {options.assets:,} assets"
        f" in {time.monotonic() - started:.1f} s"
    )
    return BenchInput(
        bootstrap=bootstrap,
        topic=name,
        partitions=options.partitions,
        readings=sent,
        assets=options.assets,
        ends=ends,
        workdir=workdir,
        timeout_s=options.timeout_s,
        nice=options.nice,
        commit_interval_s=options.commit_interval_s,
    )


def _run_arms(
    data: BenchInput, options: Options, placed: list[int]
) -> tuple[dict[str, ArmResult], list[ArmResult], Extras]:
    """Every drain arm ``options.repeat`` times in turn, then latency (with the ``placed``
    processes, the bench's and the broker's, on every CPU again): each arm's best round, every
    round's result (in the order run) and the extras."""
    rounds: dict[str, list[ArmResult]] = {}
    rows: list[ArmResult] = []
    extras = Extras()
    for number in range(1, options.repeat + 1):
        for name in (arm for arm in DRAINS if arm in options.arms):
            result = _drain(name, data, options, extras if number == 1 else None)
            rounds.setdefault(name, []).append(result)
            if options.repeat > 1:
                result = dataclasses.replace(result, name=f"{name} ({number}/{options.repeat})")
            _record(rows, result)
            if number == 1 and name == "linewatch" and extras.memory is not None:
                _record(rows, extras.memory.other)
    results = {name: best(done) for name, done in rounds.items()}
    if "latency" in options.arms:
        if data.cpus is not None:
            spread(data.cpus, placed)
        peak = peak_rate(rounds["linewatch"]) if "linewatch" in rounds else None
        extras.latency = measure_latency(data, options, peak)
        print(*extras.latency.describe(), sep="\n", flush=True)
    return results, rows, extras


def best(rounds: list[ArmResult]) -> ArmResult:
    """The round with the most readings per second per core."""
    return max(rounds, key=lambda result: result.per_core)


def peak_rate(rounds: list[ArmResult]) -> float:
    """The highest wall rate (readings/s) of any round: the latency arm runs at half of it.
    (Not the best round's by CPU: its wall time may include more of the wait for the last
    commit, which made the latency arm's rate 34,233/s where another round drained at
    84,787/s.)"""
    return max(result.per_s for result in rounds)


def _drain(name: str, data: BenchInput, options: Options, extras: Extras | None) -> ArmResult:
    """One round of drain arm ``name``; with ``extras`` (the first round) the memory arm
    follows linewatch's."""
    if name in ("naive", "handloop"):
        return run_script_arm(name, f"bench.speed.{name}", _python(), data, options.kind)
    if name == "quix":
        return run_script_arm(name, "bench.speed.quix_app", QUIX_PYTHON, data, options.kind)
    kind = options.kind if name == "linewatch" else options.passthrough_kind
    result, names, config = run_service_arm(
        data, ServiceRun(name, kind, options.processing, options.snapshots)
    )
    if name == "linewatch" and extras is not None and "memory" in options.arms:
        extras.memory = measure_memory(data, options, result, names, config)
    topics.delete(data.bootstrap, [names.state])
    return result


def _record(rows: list[ArmResult], result: ArmResult) -> None:
    rows.append(result)
    print(
        f"{result.name:12} {result.per_core:10,.0f} readings/s/core"
        f"  {result.per_s:10,.0f} readings/s"
        f"  cpu {result.cpu_s:7.1f} s  wall {result.wall_s:7.1f} s  scores {result.scores:,}"
        f"  rss {result.rss_bytes / 1e6:.0f} MB",
        flush=True,
    )


def _python() -> str:
    return sys.executable
