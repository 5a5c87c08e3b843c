"""Issue 7's targets, checked against one run's summary: what was met, what was missed.

The issue gives its targets as "ratios in one run; absolute figures on this 2-core machine for
orientation". Pass-through, latency, memory and restore are absolute figures, so a run on a
slow state of the shared machine can miss them with the same code that met them on a faster
one (see ``bench/NOTES-latency-memory.md``); every run is checked against all six.

Examples
--------
>>> summary = {"linewatch/quix": 6.98, "passthrough_readings_per_s_per_core": 73855.2}
>>> [v.met for v in check(summary)][:3]
[True, None, False]
>>> verdict_line(summary)
'targets: 1 of 2 measured met; missed: passthrough_readings_per_s_per_core 73855 (>= 100000)'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bench.speed.results import format_value

__all__ = ["TARGETS", "Target", "Verdict", "check", "render_targets", "verdict_line"]


@dataclass(frozen=True)
class Target:
    """A summary value that must be at least (``at_least``) or at most ``bound``; with
    ``strict``, more or less than it."""

    key: str
    at_least: bool
    bound: float
    what: str
    strict: bool = False

    def met_by(self, value: float) -> bool:
        """Whether ``value``, as the summary writes it (rounded), meets the target."""
        written = float(format_value(self.key, value))
        if written == self.bound:
            return not self.strict
        return written > self.bound if self.at_least else written < self.bound

    @property
    def wanted(self) -> str:
        sign = (">" if self.at_least else "<") + ("" if self.strict else "=")
        return f"{sign} {format_value(self.key, self.bound)}"


TARGETS = (
    Target("linewatch/quix", True, 3.0, "linewatch / Quix Streams, readings/s per core"),
    Target("linewatch/naive", True, 5.0, "linewatch / the naive loop, readings/s per core"),
    Target(
        "passthrough_readings_per_s_per_core", True, 100_000, "pass-through, readings/s per core"
    ),
    Target("p99_latency_ms", False, 50.0, "event-to-score p99 at half the peak rate, ms"),
    Target("rss_mb_per_1000_assets", False, 50.0, "resident MB per 1,000 assets"),
    Target("restore_s_per_1000_assets", False, 10.0, "restoring 1,000 assets' state, s", True),
)
"""Issue 7's targets, in its order."""


@dataclass(frozen=True)
class Verdict:
    """A target, the run's value (``None``: not measured) and whether it met it."""

    target: Target
    value: float | None

    @property
    def met(self) -> bool | None:
        return None if self.value is None else self.target.met_by(self.value)


def check(summary: Mapping[str, float | None]) -> list[Verdict]:
    """Every target's verdict on ``summary`` (a run's summary values)."""
    return [Verdict(target, summary.get(target.key)) for target in TARGETS]


def render_targets(summary: Mapping[str, float | None]) -> list[str]:
    """The verdicts as a Markdown table."""
    lines = ["| target (issue 7) | wanted | this run | met |", "|---|---|---|---|"]
    for verdict in check(summary):
        target, value, met = verdict.target, verdict.value, verdict.met
        shown = format_value(target.key, value)
        answer = "not measured" if met is None else ("yes" if met else "**no**")
        lines.append(f"| {target.what} | {target.wanted} | {shown} | {answer} |")
    return lines


def verdict_line(summary: Mapping[str, float | None]) -> str:
    """One line: how many measured targets were met, and which were missed."""
    measured = [v for v in check(summary) if v.met is not None]
    missed = [v for v in measured if not v.met]
    line = f"targets: {len(measured) - len(missed)} of {len(measured)} measured met"
    if missed:
        line += "; missed: " + ", ".join(
            f"{v.target.key} {format_value(v.target.key, v.value)} ({v.target.wanted})"
            for v in missed
        )
    return line
