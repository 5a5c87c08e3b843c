"""``bench/RESULTS.md``: one section per run, then the latest run's summary at the very end.

The summary is ``key = value`` lines (``n/a`` where an arm was not run) under
:data:`SUMMARY_HEADING`; writing a run keeps every earlier run's section and replaces the
summary.

Examples
--------
>>> text = render_summary({"linewatch/quix": 3.414, "p99_latency_ms": None})
>>> print(text)
## Latest run summary
<BLANKLINE>
```
linewatch/quix = 3.41
p99_latency_ms = n/a
```
>>> parse_summary("# r\\n" + text)
{'linewatch/quix': 3.41, 'p99_latency_ms': None}
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = [
    "SUMMARY_HEADING",
    "SUMMARY_KEYS",
    "append_run",
    "format_value",
    "parse_summary",
    "render_summary",
]

SUMMARY_HEADING = "## Latest run summary"
SUMMARY_KEYS = (
    "linewatch/quix",
    "linewatch/naive",
    "passthrough_readings_per_s_per_core",
    "p99_latency_ms",
    "rss_mb_per_1000_assets",
)
"""The lines outside checks read; more may follow them."""

_DECIMALS = {
    "linewatch/quix": 2,
    "linewatch/naive": 2,
    "passthrough_readings_per_s_per_core": 0,
    "linewatch_readings_per_s_per_core": 0,
    "quix_readings_per_s_per_core": 0,
    "naive_readings_per_s_per_core": 0,
    "handloop_readings_per_s_per_core": 0,
    "passthrough/handloop": 2,
    "snapshot_bytes_per_asset": 0,
    "restore_s_per_1000_assets": 2,
    "latency_service_cores": 2,
    "latency_seconds_ok_share": 2,
    "machine_stalls": 0,
}
_LINE = re.compile(r"^([A-Za-z0-9_/.]+) = (\S+)$")
_HEADER = """# Speed bench results

Written by `scripts/bench` (`python -m bench.speed`, see `bench/speed/__init__.py`): each run
appends its section; the file always ends with the latest run's summary. Every arm drains the
same preloaded readings topic (the simulator's healthy fleet, ~200-byte JSON readings, 8
channels, keyed by asset) on the same broker into its own scores topic, one score per
reading, in its own process; readings/s per core = readings / that process's CPU seconds
(user + system from /proc, from the moment it is ready to the moment its consumer group's
committed offsets reach the end of the input). Wall seconds include up to one commit interval
(5 s) after the last reading. Every arm's process runs with `MALLOC_ARENA_MAX=2` (see
`bench/speed/runner.py`): it keeps RSS figures comparable from run to run. With the bench's
own broker the drain arms run on one CPU, the bench and its broker on the others; for the
latency arm every process has every CPU (`bench/speed/cpus.py`; the "CPU placement" row).

- **naive**: poll one message, `json.loads`, the asset's detector (`build_detector`, same
  kind as linewatch) `score_one` then `learn_one`, produce one `json.dumps` score.
- **quix**: a Quix Streams application doing the same (JSON serdes, one `apply`, `to_topic`),
  at-least-once; its own venv (`.venv-bench`) because quixstreams pins confluent-kafka < 2.13.
- **linewatch**: `linewatch serve` (the real service) with its default detector and
  `serve.processing`, with `state.hmac_key` set so it snapshots its models as in production.
- **passthrough**: the same with a light per-channel detector (`--passthrough-kind`).
- **handloop**: pass-through's yardstick, the issue's hand-written batch loop: `consume` up
  to 1,000 messages, a typed msgspec decoder, the largest channel value as the score, one
  msgspec-encoded score produced per reading, nothing else (no model, state, validation or
  transactions). `passthrough/handloop` is pass-through's share of it, in the same run; the
  issue's figures (~124,000 and a 100,000 target) make 0.81.
- Latency, memory and state: see the notes under each run's table.
"""


def format_value(key: str, value: float | None) -> str:
    """``value`` as the summary writes it: ``n/a``, or rounded for its key (default 1 place).

    >>> format_value("passthrough_readings_per_s_per_core", 123456.7), format_value("x", 2.0)
    ('123457', '2.0')
    """
    if value is None:
        return "n/a"
    decimals = _DECIMALS.get(key, 1)
    return f"{value:.{decimals}f}"


def render_summary(values: dict[str, float | None]) -> str:
    """The summary section for ``values`` (in their order)."""
    lines = [f"{key} = {format_value(key, value)}" for key, value in values.items()]
    return "\n".join([SUMMARY_HEADING, "", "```", *lines, "```"])


def parse_summary(text: str) -> dict[str, float | None]:
    """The ``key = value`` lines after the last summary heading of ``text``."""
    _, found, summary = text.rpartition(SUMMARY_HEADING)
    if not found:
        raise ValueError("no summary section")
    values: dict[str, float | None] = {}
    for line in summary.splitlines():
        match = _LINE.match(line.strip())
        if match:
            key, raw = match.groups()
            values[key] = None if raw == "n/a" else float(raw)
    return values


def append_run(path: Path, section: str, summary: dict[str, float | None]) -> None:
    """Add the run's ``section`` after the earlier runs and end the file with its summary."""
    earlier = path.read_text() if path.exists() else _HEADER
    head, found, _ = earlier.rpartition(SUMMARY_HEADING)
    body = head if found else earlier
    path.write_text(
        body.rstrip("\n") + "\n\n" + section.strip("\n") + "\n\n" + render_summary(summary) + "\n"
    )
