"""Read recorded series (NAB, SKAB, wide CSV) and replay them as a stream of Readings.

- ``nab``: ``timestamp,value``; the asset is the file's stem, the one channel ``value``.
- ``skab``: ``;``-separated, ``datetime``, the channels, then the labels ``anomaly`` and
  ``changepoint`` (absent from the anomaly-free file); the asset is the file's stem.
- ``wide``: ``timestamp``, ``asset``, one numeric column per channel, and optionally the label
  columns ``label``, ``anomaly``, ``changepoint``.

Timestamps without a zone are read as UTC. A missing (NaN) value leaves that channel out of
the row's reading, as a sensor that did not report would.

Examples
--------
>>> import io
>>> recording = load(io.StringIO("timestamp,value\\n2024-01-01 00:00:00,1.5\\n"), "nab", "cpu")
>>> next(replay(recording))
Reading(asset='cpu', ts=1704067200000, values={'value': 1.5}, seq=None, line=None)
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal, get_args

import numpy as np
import numpy.typing as npt
import pandas as pd

from pipeline.errors import DatasetError
from pipeline.messages import MAX_ABS_VALUE, Reading

__all__ = ["LABEL_COLUMNS", "Format", "Recording", "load", "replay"]

Format = Literal["nab", "skab", "wide"]
LABEL_COLUMNS = ("label", "anomaly", "changepoint")
"""Columns that are ground truth, never an input of a detector."""

_TIME_COLUMN = {"nab": "timestamp", "skab": "datetime", "wide": "timestamp"}


@dataclass(frozen=True)
class Recording:
    """A file's rows in order: timestamps as written, epoch ms, assets, channels and labels."""

    name: str
    timestamps: list[str]
    ts_ms: npt.NDArray[np.int64]
    assets: list[str]
    channels: list[str]
    values: npt.NDArray[np.float64]
    labels: pd.DataFrame

    def __len__(self) -> int:
        return len(self.timestamps)


def load(source: Path | IO[str], fmt: Format, name: str | None = None) -> Recording:
    """Read a file of format ``fmt``; raise :class:`DatasetError` saying what is wrong."""
    if fmt not in get_args(Format):
        raise DatasetError(f"unknown format {fmt!r}; use one of {', '.join(get_args(Format))}")
    label = name or (source.stem if isinstance(source, Path) else "series")
    try:
        frame = pd.read_csv(source, sep=";" if fmt == "skab" else ",")
    except (OSError, ValueError) as exc:
        raise DatasetError(f"cannot read {label} as {fmt} CSV: {exc}") from exc
    time_column = _TIME_COLUMN[fmt]
    required = [time_column, "value"] if fmt == "nab" else [time_column]
    required += ["asset"] if fmt == "wide" else []
    missing = [column for column in required if column not in frame.columns]
    if missing:
        raise DatasetError(f"{label}: missing column(s) {missing} for format {fmt}")
    labels = [column for column in LABEL_COLUMNS if column in frame.columns]
    channels = _channels(frame, fmt, [time_column, "asset", *labels], label)
    assets = frame["asset"].astype(str).tolist() if fmt == "wide" else [label] * len(frame)
    return Recording(
        name=label,
        timestamps=frame[time_column].astype(str).tolist(),
        ts_ms=_epoch_ms(frame[time_column], label),
        assets=assets,
        channels=channels,
        values=frame[channels].to_numpy(dtype=np.float64),
        labels=frame[labels].reset_index(drop=True),
    )


def replay(recording: Recording) -> Iterator[Reading]:
    """One Reading per row, in file order (values that are not finite or beyond
    ±:data:`~pipeline.messages.MAX_ABS_VALUE`, which ``serve`` refuses, are left out of the row).
    """
    channels = recording.channels
    for asset, ts, row in zip(
        recording.assets, recording.ts_ms.tolist(), recording.values.tolist(), strict=True
    ):
        values = {name: value for name, value in zip(channels, row, strict=True)}
        if not all(_usable(value) for value in row):
            values = {name: value for name, value in values.items() if _usable(value)}
        yield Reading(asset=asset, ts=ts, values=values)


def _usable(value: float) -> bool:
    return math.isfinite(value) and abs(value) <= MAX_ABS_VALUE


def _channels(frame: pd.DataFrame, fmt: Format, reserved: list[str], label: str) -> list[str]:
    if fmt == "nab":
        candidates = ["value"]
    else:
        candidates = [column for column in frame.columns if column not in reserved]
    channels = [c for c in candidates if pd.api.types.is_numeric_dtype(frame[c].dtype)]
    rejected = sorted(set(candidates) - set(channels))
    if rejected:
        raise DatasetError(f"{label}: channel column(s) {rejected} are not numeric")
    if not channels:
        raise DatasetError(f"{label}: no channel columns")
    return [str(channel) for channel in channels]


def _epoch_ms(column: pd.Series, label: str) -> npt.NDArray[np.int64]:
    try:
        parsed = pd.to_datetime(column, utc=True, format="mixed")
    except (ValueError, TypeError) as exc:
        raise DatasetError(f"{label}: unreadable timestamp: {exc}") from exc
    if parsed.isna().any():
        row = int(np.flatnonzero(parsed.isna().to_numpy())[0])
        raise DatasetError(f"{label}: row {row + 1} has no timestamp")
    since_epoch = (parsed - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(milliseconds=1)
    return np.asarray(since_epoch.to_numpy(), dtype=np.int64)
