"""Keeping the broker off the drain arms' core: which CPUs run what, and pinning processes.

On a small machine the local broker shares the cores with the arm being measured. Its JVM
threads then run on the arm's core between the arm's turns and the arm pays for it in CPU
seconds (caches refilled after every switch): the same code's pass-through drain took 11-36 %
more CPU a reading unpinned than with the broker on the other core (bench notes, round 22).
A production broker has machines of its own, so the bench gives the drain arms one CPU and
the broker (with the bench's own process, which only samples) the others. The latency arm
measures wall time: its service and load generator, the broker and the bench share every
CPU then, as they did before any pinning.

Examples
--------
>>> plan = CpuPlan.of(frozenset({0, 1}))
>>> sorted(plan.arms), sorted(plan.broker)
([0], [1])
>>> print(plan.describe())
drain arms on CPU 0; the broker and the bench on CPU 1; during the latency arm all on CPU 0-1
>>> CpuPlan.of(frozenset({3})) is None
True
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CpuPlan", "allowed", "pin_process", "pinned_self", "spread"]


@dataclass(frozen=True)
class CpuPlan:
    """The CPUs of the drain (and memory) arms, of the broker and the bench, and of all."""

    arms: frozenset[int]
    broker: frozenset[int]

    @property
    def everything(self) -> frozenset[int]:
        return self.arms | self.broker

    @classmethod
    def of(cls, available: frozenset[int]) -> CpuPlan | None:
        """The lowest CPU for the arms, the rest for the broker; ``None`` with fewer than two."""
        if len(available) < 2:
            return None
        arms = frozenset({min(available)})
        return cls(arms, available - arms)

    def describe(self) -> str:
        return (
            f"drain arms on CPU {_span(self.arms)}; the broker and the bench on CPU "
            f"{_span(self.broker)}; during the latency arm all on CPU {_span(self.everything)}"
        )


def _span(cpus: frozenset[int]) -> str:
    """``0`` or ``1-3`` (contiguous) or ``0,2``."""
    ordered = sorted(cpus)
    if len(ordered) > 1 and ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f"{ordered[0]}-{ordered[-1]}"
    return ",".join(str(cpu) for cpu in ordered)


def allowed() -> frozenset[int]:
    """The CPUs this process may run on."""
    return frozenset(os.sched_getaffinity(0))


def pin_process(pid: int, cpus: frozenset[int]) -> int:
    """Restrict every thread of process ``pid`` to ``cpus`` (threads it makes later inherit
    their maker's); returns how many threads were pinned (one that exits meanwhile is not)."""
    pinned = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(ProcessLookupError):
            os.sched_setaffinity(int(task.name), cpus)
            pinned += 1
    return pinned


@contextlib.contextmanager
def pinned_self(cpus: frozenset[int] | None) -> Iterator[None]:
    """Run this process's threads on ``cpus`` meanwhile (``None``: leave them); restored after."""
    if cpus is None:
        yield
        return
    before = allowed()
    pin_process(os.getpid(), cpus)
    try:
        yield
    finally:
        pin_process(os.getpid(), before)


def spread(plan: CpuPlan, pids: list[int]) -> None:
    """Let processes ``pids`` run on every CPU of ``plan`` again (for the latency arm)."""
    for pid in pids:
        pin_process(pid, plan.everything)
