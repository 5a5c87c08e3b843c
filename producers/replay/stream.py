"""A recorded file (or several) as a stream of readings, labels and reported bad rows.

Files are replayed one after another, ``loops`` times (0: forever); every pass after the
first shifts timestamps (and ``seq``) past the previous pass, so the stream keeps moving
forward. A :class:`FileStart` marks each file's start (to restart pacing), a :class:`Problem`
each row that could not be read.

Examples
--------
>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "cpu.csv"
>>> _ = path.write_text("timestamp,value\\n2024-01-01 00:00:00,1\\n2024-01-01 00:05:00,x\\n")
>>> for item in replay([path], ReplayOptions("nab", asset="cpu", loops=2)):
...     print(item)
FileStart(path=..., loop=0)
Reading(asset='cpu', ts=1704067200000, values={'value': 1.0}, seq=None, line=None)
...cpu.csv:3: column 'value': 'x' is not a number
FileStart(path=..., loop=1)
Reading(asset='cpu', ts=1704067201000, values={'value': 1.0}, seq=None, line=None)
...cpu.csv:3: column 'value': 'x' is not a number
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pipeline.messages import Label, Reading
from producers.replay.labels import FlagLabels, PendingLabels, load_label_file
from producers.replay.layouts import BadRow, Format, Layout
from producers.replay.tables import open_table

__all__ = ["FileStart", "Problem", "ReplayOptions", "default_asset", "replay"]

_DEFAULT_STEP_MS = 1000


@dataclass(frozen=True, slots=True)
class FileStart:
    """A file's pass begins."""

    path: Path
    loop: int


@dataclass(frozen=True, slots=True)
class Problem:
    """A row skipped because it could not be read."""

    path: Path
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


@dataclass(frozen=True)
class ReplayOptions:
    """How to read and which part to replay (see ``linewatch replay --help``)."""

    fmt: Format
    asset: str | None = None
    timestamp_column: str | None = None
    asset_column: str | None = None
    channels: Mapping[str, str] | None = None
    label_columns: Sequence[str] | None = None
    delimiter: str | None = None
    epoch_unit: Literal["ms", "s"] = "ms"
    labels_file: Path | None = None
    start_ms: int | None = None
    end_ms: int | None = None
    loops: int = 1


def default_asset(path: Path) -> str:
    """The asset id of a single-asset file: its folder and name, e.g. ``valve1-0``.

    >>> default_asset(Path("data/realTweets/Twitter_volume_AAPL.csv"))
    'realTweets-Twitter_volume_AAPL'
    """
    name = f"{path.parent.name}-{path.stem}" if path.parent.name else path.stem
    return re.sub(r"[^\w.:-]+", "_", name)[:128]


@dataclass
class _Pass:
    """What a file's first pass found: how far later passes shift."""

    first_ts: int | None = None
    last_ts: int | None = None
    step: int = _DEFAULT_STEP_MS
    max_seq: int = -1

    def shift(self, loop: int) -> tuple[int, int]:
        if self.first_ts is None or self.last_ts is None:
            return 0, 0
        return loop * (self.last_ts - self.first_ts + self.step), loop * (self.max_seq + 1)

    def see(self, ts: int, seq: int | None) -> None:
        if self.last_ts is not None and ts > self.last_ts:
            self.step = ts - self.last_ts
        self.first_ts = ts if self.first_ts is None else self.first_ts
        self.last_ts = ts
        self.max_seq = max(self.max_seq, -1 if seq is None else seq)


def replay(
    paths: Sequence[Path], options: ReplayOptions
) -> Iterator[Reading | Label | Problem | FileStart]:
    """Every file's records, ``options.loops`` times (``ValueError`` for an unusable file)."""
    passes = {path: _Pass() for path in paths}
    loops = itertools.count() if options.loops == 0 else range(options.loops)
    for loop in loops:
        for path in paths:
            yield FileStart(path, loop)
            yield from _one_pass(path, options, loop, passes[path])


def _one_pass(
    path: Path, options: ReplayOptions, loop: int, seen: _Pass
) -> Iterator[Reading | Label | Problem]:
    delimiter = options.delimiter or (";" if options.fmt == "skab" else ",")
    table = open_table(path, delimiter)
    fixed = None if options.fmt == "wide" else (options.asset or default_asset(path))
    layout = Layout.build(
        options.fmt,
        table.header,
        asset=fixed,
        timestamp_column=options.timestamp_column,
        asset_column=options.asset_column,
        channels=options.channels,
        label_columns=options.label_columns,
        epoch_unit=options.epoch_unit,
    )
    shift_ms, shift_seq = seen.shift(loop)
    pending = _file_labels(path, options, fixed or options.asset, shift_ms)
    flags = FlagLabels()
    for number, cells in table.rows():
        try:
            row = layout.parse(cells)
        except BadRow as exc:
            yield Problem(path, number, str(exc))
            continue
        if not _wanted(row.asset, row.ts, options):
            continue
        if loop == 0:
            seen.see(row.ts, row.seq)
        ts = row.ts + shift_ms
        yield from pending.due(ts)
        yield from flags.update(row.asset, ts, row.flags)
        seq = None if row.seq is None else row.seq + shift_seq
        yield Reading(row.asset, ts, row.values, seq, row.line)
    yield from pending.rest()


def _wanted(asset: str, ts: int, options: ReplayOptions) -> bool:
    if options.fmt == "wide" and options.asset is not None and asset != options.asset:
        return False
    if options.start_ms is not None and ts < options.start_ms:
        return False
    return options.end_ms is None or ts <= options.end_ms


def _file_labels(
    path: Path, options: ReplayOptions, asset: str | None, shift_ms: int
) -> PendingLabels:
    if options.labels_file is None:
        return PendingLabels([])
    labels = load_label_file(options.labels_file, path, asset)
    return PendingLabels(
        Label(label.asset, label.ts + shift_ms, label.kind, label.fault)
        for label in labels
        if _wanted(label.asset, label.ts, options)
    )
