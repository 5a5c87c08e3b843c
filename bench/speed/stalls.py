"""A witness of stalls outside the processes the latency arm measures.

``python -m bench.speed.stalls`` raises its priority to nice -10 where it may (root or
``CAP_SYS_NICE``; otherwise it keeps its niceness and says which it had), then sleeps
``--every-ms`` (5) at a time until SIGTERM or SIGINT (saying so on stderr once it watches),
and prints one JSON line: its niceness and every wake-up that came at least ``--late-ms`` (20)
late, as ``[wall ms, ms late]``.

The kernel wakes a sleeper at nice -10 within a few milliseconds whatever runs at nice 0 on
the machine (the service, the broker, the load generator). Woken 20 ms late, it says that the
machine ran nothing of ours meanwhile: the hypervisor did not run the vCPUs, or the kernel held
them. On the bench's 2-vCPU machine such wake-ups, 24-32 ms late, came in the same
quarter-seconds as the latency arm's episodes (round 25 of ``bench/NOTES-latency-memory.md``);
the arm counts them in its measured window (:func:`Stalls.within`).

Examples
--------
>>> ticks = iter([0.0, 0.005, 0.010, 0.045, 0.050])
>>> stop = iter([False, False, False, True])
>>> watch(lambda: next(stop), every_s=0.005, late_s=0.02,
...       clock=lambda: next(ticks), wall_ms=lambda: 1000, sleep=lambda s: None)
[(1000, 30.0)]
>>> report = Stalls.parse('{"niceness": -10, "late": [[1000, 30.0], [5000, 21.5]]}')
>>> report.niceness, report.within(2000, 6000).late
(-10, [(5000, 21.5)])
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType

from bench.speed.cli_types import positive_float

__all__ = ["LATE_MS", "PRIORITY", "Stalls", "main", "watch"]

PRIORITY = -10
"""The niceness the witness asks for."""
LATE_MS = 20.0
"""How late a wake-up is reported, by default (``--late-ms``)."""


def watch(
    stopped: Callable[[], bool],
    every_s: float,
    late_s: float,
    clock: Callable[[], float] = time.monotonic,
    wall_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    sleep: Callable[[float], None] = time.sleep,
) -> list[tuple[int, float]]:
    """Sleep ``every_s`` at a time until ``stopped()``; each wake-up at least ``late_s`` past
    its time, as ``(wall ms, ms late)``."""
    late: list[tuple[int, float]] = []
    before = clock()
    while not stopped():
        sleep(every_s)
        now = clock()
        behind = now - before - every_s
        if behind >= late_s:
            late.append((wall_ms(), round(behind * 1000, 1)))
        before = now
    return late


@dataclass(frozen=True)
class Stalls:
    """What a witness printed: its niceness and its late wake-ups ``(wall ms, ms late)``."""

    niceness: int
    late: list[tuple[int, float]]

    @classmethod
    def parse(cls, output: str) -> Stalls | None:
        """The report in the witness's ``output`` (its last JSON line), if there is one."""
        for line in reversed(output.splitlines()):
            try:
                found = json.loads(line)
            except ValueError:
                continue
            if isinstance(found, dict) and "niceness" in found and "late" in found:
                late = [(int(at), float(ms)) for at, ms in found["late"]]
                return cls(int(found["niceness"]), late)
        return None

    def within(self, start_ms: int, end_ms: int) -> Stalls:
        """The report of the late wake-ups from ``start_ms`` to ``end_ms`` (wall ms) alone."""
        return Stalls(self.niceness, [(at, ms) for at, ms in self.late if start_ms <= at <= end_ms])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.speed.stalls",
        description="Sleep a few ms at a time at nice -10 until stopped (SIGTERM, SIGINT) and "
        "print the wake-ups that came late: stalls of the machine, not of a process.",
    )
    parser.add_argument(
        "--every-ms", type=positive_float, default=5.0, help="each sleep (default 5)"
    )
    parser.add_argument(
        "--late-ms",
        type=positive_float,
        default=LATE_MS,
        help=f"late enough to report (default {LATE_MS:g})",
    )
    args = parser.parse_args(argv)
    try:
        os.nice(PRIORITY - os.nice(0))
    except PermissionError:
        pass  # not allowed: the report says the niceness it had
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print(
        f"stalls: sleeping {args.every_ms:g} ms at a time at nice {os.nice(0)}, noting wake-ups"
        f" {args.late_ms:g} ms or more late",
        file=sys.stderr,
        flush=True,
    )
    late = watch(stop.is_set, args.every_ms / 1000, args.late_ms / 1000)
    print(json.dumps({"niceness": os.nice(0), "late": late}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
