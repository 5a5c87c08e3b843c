"""Arms (a) naive loop, (b) Quix Streams and (g) the hand loop: child processes draining the
shared input.

Each gets the same input topic, the same detector kind and a fresh output topic and consumer
group; see :mod:`bench.speed.naive`, :mod:`bench.speed.quix_app` and
:mod:`bench.speed.handloop` for what they do.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.speed import topics
from bench.speed.cpus import CpuPlan
from bench.speed.procstat import ProcessSample
from bench.speed.runner import ArmResult, Child, count_messages, drain

__all__ = ["REPO", "BenchInput", "QUIX_PYTHON", "finish", "run_script_arm"]

REPO = Path(__file__).resolve().parents[2]
QUIX_PYTHON = REPO / ".venv-bench" / "bin" / "python"
"""The interpreter of ``scripts/setup-bench``'s venv, where ``quixstreams`` is installed."""


@dataclass(frozen=True)
class BenchInput:
    """The preloaded readings every arm drains, and where to put the arms' files."""

    bootstrap: str
    topic: str
    partitions: int
    readings: int
    assets: int
    ends: dict[int, int]
    workdir: Path
    timeout_s: float
    nice: int = 0
    commit_interval_s: float | None = None
    """Every arm's commit interval; ``None``: each one's default (5 s in all three)."""
    cpus: CpuPlan | None = None
    """Where the arms run (:mod:`bench.speed.cpus`); ``None``: wherever the bench runs."""

    @property
    def arm_cpus(self) -> frozenset[int] | None:
        """The drain and memory arms' CPUs (``None``: not pinned)."""
        return None if self.cpus is None else self.cpus.arms

    @property
    def live_cpus(self) -> frozenset[int] | None:
        """The latency arm's CPUs: all of them (``None``: not pinned)."""
        return None if self.cpus is None else self.cpus.everything


def run_script_arm(
    name: str, module: str, python: Path | str, data: BenchInput, kind: str
) -> ArmResult:
    """Run ``python -m module BOOTSTRAP INPUT OUTPUT GROUP KIND`` until it drained the input."""
    output, group = topics.unique(f"bench.{name}.scores"), topics.unique(f"bench-{name}")
    topics.create(data.bootstrap, [output], data.partitions)
    argv = [str(python), "-m", module, data.bootstrap, data.topic, output, group, kind]
    argv += [] if data.commit_interval_s is None else [str(data.commit_interval_s)]
    child = Child(name, argv, data.workdir, cwd=REPO, nice=data.nice, cpus=data.arm_cpus)
    try:
        start, end, wall = drain(
            child,
            lambda: "READY" in child.stdout_path.read_text(),
            data.bootstrap,
            group,
            data.topic,
            data.ends,
            data.timeout_s,
        )
    finally:
        child.stop()
    reported = re.search(r"READY (\S+)", child.stdout_path.read_text())
    if reported:  # the child's own CPU seconds at its first message: no polling delay
        start = dataclasses.replace(start, cpu_s=float(reported.group(1)))
    return finish(name, data, output, start, end, wall, f"model.kind={kind}")


def finish(
    name: str,
    data: BenchInput,
    output: str,
    start: ProcessSample,
    end: ProcessSample,
    wall: float,
    note: str,
) -> ArmResult:
    """Count the arm's scores, drop its output topic, and make its result."""
    scores = count_messages(data.bootstrap, output)
    topics.delete(data.bootstrap, [output])
    if scores != data.readings:
        print(
            f"WARNING: {name} produced {scores} scores for {data.readings} readings",
            file=sys.stderr,
        )
    return ArmResult(
        name=name,
        readings=data.readings,
        scores=scores,
        cpu_s=end.cpu_s - start.cpu_s,
        wall_s=wall,
        rss_bytes=end.rss_bytes,
        peak_rss_bytes=end.peak_rss_bytes,
        note=note,
    )
