"""One bench run: preload the input, run the chosen arms on it, write ``bench/RESULTS.md``."""

from __future__ import annotations

import contextlib
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.speed import topics
from bench.speed.arms import QUIX_PYTHON, BenchInput, run_script_arm
from bench.speed.latency import measure_latency
from bench.speed.machine import describe
from bench.speed.memory import measure_memory
from bench.speed.report import Extras, render_section, summarise
from bench.speed.results import append_run
from bench.speed.runner import ArmResult
from bench.speed.service import ServiceRun, run_service_arm
from pipeline.broker.jars import KAFKA_VERSION

__all__ = ["ARMS", "Options", "run"]

ARMS = ("naive", "quix", "linewatch", "passthrough", "latency", "memory")


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
    results: Path | None = None
    nice: int = 0
    timeout_s: float = 3600.0
    commit_interval_s: float | None = None
    workdir: Path | None = None


def run(options: Options) -> dict[str, float | None]:
    """Run ``options.arms``; append the run to ``options.results`` (if set); return the summary."""
    began = time.monotonic()
    with (
        topics.broker(options.bootstrap) as bootstrap,
        _workdir(options.workdir) as workdir,
    ):
        kafka = f"{KAFKA_VERSION} (local)" if options.bootstrap is None else "external broker"
        machine = describe(QUIX_PYTHON, kafka)
        data = _prepare(bootstrap, options, Path(workdir))
        results, extras = _run_arms(data, options)
        topics.delete(bootstrap, [data.topic])
    extras.duration_s = time.monotonic() - began
    summary = summarise(results, extras)
    if options.results is not None:
        section = render_section(datetime.now(UTC), options, machine, results, extras)
        append_run(options.results, section, summary)
    return summary


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


def _run_arms(data: BenchInput, options: Options) -> tuple[dict[str, ArmResult], Extras]:
    results: dict[str, ArmResult] = {}
    extras = Extras()
    if "naive" in options.arms:
        _record(
            results, run_script_arm("naive", "bench.speed.naive", _python(), data, options.kind)
        )
    if "quix" in options.arms:
        _record(
            results, run_script_arm("quix", "bench.speed.quix_app", QUIX_PYTHON, data, options.kind)
        )
    if "linewatch" in options.arms:
        run_ = ServiceRun("linewatch", options.kind, options.processing, options.snapshots)
        result, names, config = run_service_arm(data, run_)
        _record(results, result)
        if "memory" in options.arms:
            extras.memory = measure_memory(data, options, result, names, config)
            _record(results, extras.memory.other)
        topics.delete(data.bootstrap, [names.state])
    if "passthrough" in options.arms:
        run_ = ServiceRun(
            "passthrough", options.passthrough_kind, options.processing, options.snapshots
        )
        result, names, _ = run_service_arm(data, run_)
        topics.delete(data.bootstrap, [names.state])
        _record(results, result)
    if "latency" in options.arms:
        peak = results["linewatch"].per_s if "linewatch" in results else None
        extras.latency = measure_latency(data, options, peak)
        print(*extras.latency.describe(), sep="\n", flush=True)
    return results, extras


def _record(results: dict[str, ArmResult], result: ArmResult) -> None:
    results[result.name] = result
    print(
        f"{result.name:12} {result.per_core:10,.0f} readings/s/core"
        f"  {result.per_s:10,.0f} readings/s"
        f"  cpu {result.cpu_s:7.1f} s  wall {result.wall_s:7.1f} s  scores {result.scores:,}"
        f"  rss {result.rss_bytes / 1e6:.0f} MB",
        flush=True,
    )


def _python() -> str:
    return sys.executable
