"""Run one arm as a child process and measure it draining the input topic.

The clock starts when the child says it is ready (it has its partitions) and stops when its
consumer group's committed offsets reach the end of the input topic: CPU seconds are the
child's user + system time between those two moments (sampled from ``/proc``), wall seconds
the time between them. Then the child is stopped (SIGTERM) and its output topic is read back
(``read_committed``) to count the scores it produced.

Every child runs with glibc's ``MALLOC_ARENA_MAX=2`` (unless the environment sets it): with
the default (8 arenas per core) librdkafka's threads leave arenas fragmented differently from
run to run: ``rss_mb_per_1000_assets`` of four identical 200k-reading runs ranged from 39 to
92 MB; with 2 arenas, four runs gave 21 to 40 MB (the restored states' heap, 28 MB, is the
steady figure). CPU time is unaffected as far as measured.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import Consumer, Message, TopicPartition

from bench.speed.procstat import ProcessSample, sample
from bench.speed.topics import read_to_end, wait_until

__all__ = ["ArmResult", "Child", "count_messages", "drain"]
logger = logging.getLogger(__name__)

_SAMPLE_EVERY_S = 0.2
ARENAS = {"MALLOC_ARENA_MAX": "2"}
"""glibc malloc arenas of every child (see the module docstring)."""


@dataclass(frozen=True)
class ArmResult:
    """What one arm did: readings drained, scores out, CPU and wall seconds, memory after."""

    name: str
    readings: int
    scores: int
    cpu_s: float
    wall_s: float
    rss_bytes: int
    peak_rss_bytes: int
    note: str = ""

    @property
    def per_core(self) -> float:
        """Readings per CPU second of the arm's process."""
        return self.readings / self.cpu_s if self.cpu_s > 0 else 0.0

    @property
    def per_s(self) -> float:
        """Readings per wall second."""
        return self.readings / self.wall_s if self.wall_s > 0 else 0.0


def _placed(nice: int, cpus: frozenset[int] | None) -> Callable[[], None] | None:
    """What a child runs before its program: its niceness and CPUs (``None``: nothing)."""
    if not nice and cpus is None:
        return None

    def place() -> None:
        if nice:
            os.nice(nice)
        if cpus is not None:  # before the program starts any thread: they all inherit it
            os.sched_setaffinity(0, cpus)

    return place


class Child:
    """A child process with its stdout and stderr in files under ``workdir``, run with
    niceness ``nice`` on ``cpus`` (``None``: the bench's own)."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        workdir: Path,
        cwd: Path | None = None,
        nice: int = 0,
        cpus: frozenset[int] | None = None,
    ) -> None:
        self.name = name
        self.stdout_path = workdir / f"{name}.stdout"
        self.stderr_path = workdir / f"{name}.stderr"
        self._files = (self.stdout_path.open("w"), self.stderr_path.open("w"))
        self.process = subprocess.Popen(
            argv,
            stdout=self._files[0],
            stderr=self._files[1],
            env={**ARENAS, **os.environ, "PYTHONUNBUFFERED": "1"},
            cwd=cwd,
            preexec_fn=_placed(nice, cpus),  # noqa: PLW1509
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        """The child's stdout and stderr so far (for readiness checks and error messages)."""
        return self.stdout_path.read_text() + self.stderr_path.read_text()

    def check_alive(self) -> None:
        """Raise ``RuntimeError`` with the child's output if it exited."""
        if self.process.poll() is not None:
            raise RuntimeError(
                f"{self.name} exited with {self.process.returncode}:\n{self.output()[-3000:]}"
            )

    def sample(self) -> ProcessSample:
        return sample(self.pid)

    def stop(self, timeout_s: float = 60.0) -> int:
        """SIGTERM, then SIGKILL after ``timeout_s``; returns the exit code."""
        try:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                logger.warning("%s did not stop in %g s: killing it", self.name, timeout_s)
                self.process.kill()
                return self.process.wait()
        finally:
            for handle in self._files:
                handle.close()


def drain(
    child: Child,
    ready: Callable[[], bool],
    bootstrap: str,
    group: str,
    topic: str,
    ends: dict[int, int],
    timeout_s: float,
) -> tuple[ProcessSample, ProcessSample, float]:
    """Wait for ``ready()``, then for ``group`` to commit ``ends``; samples at both and wall s."""

    def is_ready() -> bool:
        child.check_alive()
        return ready()

    wait_until(is_ready, 180.0, f"{child.name} to be ready", every_s=0.01)
    began, start = time.monotonic(), child.sample()
    lag = _CommittedLag(bootstrap, group, topic, ends)
    try:
        while True:
            child.check_alive()
            if lag.remaining() == 0:
                return start, child.sample(), time.monotonic() - began
            if time.monotonic() - began > timeout_s:
                raise TimeoutError(f"{child.name} did not drain {topic} in {timeout_s:g} s")
            time.sleep(_SAMPLE_EVERY_S)
    finally:
        lag.close()


class _CommittedLag:
    """Messages of ``topic`` not yet covered by ``group``'s committed offsets."""

    def __init__(self, bootstrap: str, group: str, topic: str, ends: dict[int, int]) -> None:
        self._consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
        self._parts = [TopicPartition(topic, p) for p in sorted(ends)]
        self._ends = ends

    def remaining(self) -> int:
        committed = self._consumer.committed(self._parts, timeout=10)
        return sum(self._ends[p.partition] - max(p.offset, 0) for p in committed)

    def close(self) -> None:
        self._consumer.close()


def count_messages(bootstrap: str, topic: str, timeout_s: float = 120.0) -> int:
    """Committed messages in ``topic`` (read from the start to its current end)."""
    seen = [0]

    def count(message: Message) -> None:
        seen[0] += 1

    read_to_end(bootstrap, topic, count, timeout_s)
    return seen[0]
