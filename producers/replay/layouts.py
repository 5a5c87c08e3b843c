"""Map a raw row to an asset, a timestamp, channel values and label flags.

Three layouts, each with defaults that the column options override:

- ``nab``: ``timestamp,value`` (one channel, ``value``); a ``label`` column, if present,
  is a label column (NAB's result files).
- ``skab``: ``;``-separated, ``datetime``, the channels, ``anomaly`` and ``changepoint``
  label columns.
- ``wide``: ``timestamp`` (or ``ts``), ``asset``, one column per channel (``seq`` and
  ``line`` are kept as such).

Timestamps are epoch milliseconds (numbers; ``epoch_unit="s"`` for seconds) or ISO 8601 text;
text without a zone is UTC.

Examples
--------
>>> layout = Layout.build("nab", ("timestamp", "value"), asset="cpu")
>>> layout.parse(["2014-04-01 00:00:00", "12.5"])
ParsedRow(asset='cpu', ts=1396310400000, values={'value': 12.5}, flags={}, seq=None, line=None)
>>> layout.parse(["yesterday", "1"])
Traceback (most recent call last):
...
producers.replay.layouts.BadRow: column 'timestamp': 'yesterday' is not a timestamp
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pipeline.messages import MAX_ABS_VALUE, MAX_ASSET_ID_LENGTH

__all__ = ["BadRow", "Format", "Layout", "ParsedRow", "parse_timestamp"]

Format = Literal["nab", "skab", "wide"]
_TIMESTAMP_NAMES = ("timestamp", "datetime", "ts", "time")
_DEFAULT_LABELS: dict[Format, tuple[str, ...]] = {
    "nab": ("label",),
    "skab": ("anomaly", "changepoint"),
    "wide": (),
}
_META = ("seq", "line")


class BadRow(ValueError):
    """A row that cannot become a reading; the message says which column and why."""


@dataclass(frozen=True, slots=True)
class ParsedRow:
    """One row as a reading-to-be plus its label columns' 0/1 flags."""

    asset: str
    ts: int
    values: dict[str, float]
    flags: dict[str, int]
    seq: int | None = None
    line: str | None = None


def parse_timestamp(cell: Any, epoch_unit: Literal["ms", "s"] = "ms") -> int:
    """Epoch milliseconds from a number, a datetime or ISO 8601 text (naive means UTC).

    >>> parse_timestamp("2020-03-09 10:14:33"), parse_timestamp("1700000000000")
    (1583748873000, 1700000000000)
    >>> parse_timestamp(1700000000, epoch_unit="s")
    1700000000000
    """
    if isinstance(cell, datetime):
        moment = cell
    elif isinstance(cell, int | float) and not isinstance(cell, bool):
        return _epoch(float(cell), epoch_unit)
    else:
        text = str(cell).strip()
        try:
            return _epoch(float(text), epoch_unit)
        except ValueError:
            pass
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise BadRow(f"{text[:40]!r} is not a timestamp") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(round(moment.timestamp() * 1000))


def _epoch(number: float, unit: str) -> int:
    if not math.isfinite(number) or number < 0:
        raise BadRow(f"{number} is not a valid epoch time")
    return int(round(number * (1000.0 if unit == "s" else 1.0)))


def _number(cell: Any, column: str) -> float:
    if isinstance(cell, bool) or cell is None or cell == "":
        raise BadRow(f"column {column!r}: empty value")
    try:
        value = float(cell)
    except (TypeError, ValueError):
        raise BadRow(f"column {column!r}: {str(cell)[:40]!r} is not a number") from None
    if not math.isfinite(value):
        raise BadRow(f"column {column!r}: {value} is not a finite number")
    if abs(value) > MAX_ABS_VALUE:  # serve would make the reading an out_of_range dead letter
        raise BadRow(f"column {column!r}: {value} is beyond ±{MAX_ABS_VALUE:g}")
    return value


def _index(header: Sequence[str], name: str, what: str) -> int:
    try:
        return list(header).index(name)
    except ValueError:
        raise ValueError(f"no {what} column {name!r}; the file has {', '.join(header)}") from None


@dataclass(frozen=True)
class Layout:
    """Where each part of a reading is in a row (column indexes into the header)."""

    timestamp: tuple[int, str]
    channels: tuple[tuple[int, str, str], ...]  # (index, column, channel name)
    labels: tuple[tuple[int, str], ...]
    asset: str | None = None  # a fixed asset id ...
    asset_column: tuple[int, str] | None = None  # ... or the column holding it
    meta: dict[str, int] = field(default_factory=dict)
    epoch_unit: Literal["ms", "s"] = "ms"
    width: int = 0

    @classmethod
    def build(
        cls,
        fmt: Format,
        header: Sequence[str],
        asset: str | None = None,
        timestamp_column: str | None = None,
        asset_column: str | None = None,
        channels: Mapping[str, str] | None = None,
        label_columns: Sequence[str] | None = None,
        epoch_unit: Literal["ms", "s"] = "ms",
    ) -> Layout:
        """The layout of a file with ``header`` (``ValueError`` naming a missing column)."""
        ts_name = timestamp_column or next((n for n in _TIMESTAMP_NAMES if n in header), "")
        ts = (_index(header, ts_name or _TIMESTAMP_NAMES[0], "timestamp"), ts_name)
        by_asset: tuple[int, str] | None = None
        if fmt == "wide":
            name = asset_column or "asset"
            by_asset = (_index(header, name, "asset"), name)
        elif asset is None:
            raise ValueError("an asset name is needed for the nab and skab layouts")
        wanted = _DEFAULT_LABELS[fmt] if label_columns is None else tuple(label_columns)
        labels = tuple(
            (_index(header, n, "label"), n) for n in wanted if n in header or label_columns
        )
        taken = {ts[1], *(n for _, n in labels), *([by_asset[1]] if by_asset else [])}
        meta = {n: header.index(n) for n in _META if fmt == "wide" and n in header}
        if channels:
            picked = tuple(
                (_index(header, src, "channel"), src, dst) for src, dst in channels.items()
            )
        elif fmt == "nab":
            picked = ((_index(header, "value", "value"), "value", "value"),)
        else:
            skip = taken | set(meta)
            picked = tuple((i, n, n) for i, n in enumerate(header) if n not in skip)
        if not picked:
            raise ValueError("no channel columns to replay")
        return cls(ts, picked, labels, asset, by_asset, meta, epoch_unit, len(header))

    def parse(self, cells: Sequence[Any]) -> ParsedRow:
        """The reading and label flags of one row; :class:`BadRow` saying what is wrong."""
        if len(cells) != self.width and self.width:
            raise BadRow(f"expected {self.width} fields, got {len(cells)}")
        index, name = self.timestamp
        try:
            ts = parse_timestamp(cells[index], self.epoch_unit)
        except BadRow as exc:
            raise BadRow(f"column {name!r}: {exc}") from None
        values = {channel: _number(cells[i], column) for i, column, channel in self.channels}
        flags = {column: int(_number(cells[i], column) != 0) for i, column in self.labels}
        asset = self._asset(cells)
        seq = self.meta.get("seq")
        line = self.meta.get("line")
        return ParsedRow(
            asset,
            ts,
            values,
            flags,
            None if seq is None or cells[seq] in ("", None) else int(_number(cells[seq], "seq")),
            None if line is None or cells[line] in ("", None) else str(cells[line]),
        )

    def _asset(self, cells: Sequence[Any]) -> str:
        if self.asset_column is None:
            assert self.asset is not None
            return self.asset
        index, name = self.asset_column
        asset = "" if cells[index] is None else str(cells[index]).strip()
        if not asset or len(asset) > MAX_ASSET_ID_LENGTH or not asset.isprintable():
            raise BadRow(f"column {name!r}: {asset[:40]!r} is not a valid asset id")
        return asset
