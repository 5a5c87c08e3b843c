"""CPU seconds and resident memory of a process, read from Linux ``/proc``.

Examples
--------
>>> line = "42 (python -m x) S 1 2 3 0 -1 0 0 0 0 0 250 50 0 0 20 0 3 0 100 0 0"
>>> parse_cpu_ticks(line)
300
>>> parse_status_kib("Name:\\tpython\\nVmHWM:\\t  2048 kB\\nVmRSS:\\t  1024 kB\\n", "VmRSS")
1024
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ProcessSample", "parse_cpu_ticks", "parse_status_kib", "sample"]

_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class ProcessSample:
    """One look at a process: its CPU seconds (user + system, all threads) and memory."""

    cpu_s: float
    rss_bytes: int
    peak_rss_bytes: int


def parse_cpu_ticks(stat_line: str) -> int:
    """``utime + stime`` (clock ticks) from a ``/proc/PID/stat`` line.

    The command name (field 2) may hold spaces and parentheses, so fields are counted from
    the last ``)``; utime and stime are fields 14 and 15.
    """
    fields = stat_line[stat_line.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])


def parse_status_kib(status_text: str, name: str) -> int:
    """The value in KiB of field ``name`` (``VmRSS``, ``VmHWM``) of ``/proc/PID/status``."""
    for line in status_text.splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    raise ValueError(f"no {name} in /proc status")


def sample(pid: int) -> ProcessSample:
    """CPU seconds and current and peak RSS of process ``pid`` (not of its children)."""
    proc = Path("/proc") / str(pid)
    ticks = parse_cpu_ticks((proc / "stat").read_text())
    status = (proc / "status").read_text()
    return ProcessSample(
        cpu_s=ticks / _TICKS_PER_S,
        rss_bytes=parse_status_kib(status, "VmRSS") * 1024,
        peak_rss_bytes=parse_status_kib(status, "VmHWM") * 1024,
    )
