"""Ground-truth labels of a replayed stream: from label columns and from label files.

A label column (SKAB's ``anomaly``, ``changepoint``; NAB results' ``label``) is a 0/1 flag per
row; :class:`FlagLabels` turns a 0->1 step into ``fault_start`` and a 1->0 step into
``fault_end``, with the column's name as the fault. A label file is NAB's windows JSON (each
``[start, end]`` window of the file becomes ``fault_start``/``fault_end`` of ``nab_window``)
or a labels table (``asset, ts, kind, fault``, as ``linewatch simulate --out`` writes).

Examples
--------
>>> flags = FlagLabels()
>>> [flags.update("p", t, {"anomaly": f}) for t, f in [(1, 0), (2, 1), (3, 1), (4, 0)]]
[[], [Label(asset='p', ts=2, kind='fault_start', fault='anomaly')], [],
 [Label(asset='p', ts=4, kind='fault_end', fault='anomaly')]]
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import cast, get_args

from pipeline.messages import Label, LabelKind
from producers.replay.layouts import BadRow, parse_timestamp
from producers.replay.tables import open_table

__all__ = ["FlagLabels", "PendingLabels", "load_label_file"]

NAB_FAULT = "nab_window"


class FlagLabels:
    """Labels from the steps of 0/1 label columns, tracked per asset and column."""

    def __init__(self) -> None:
        self._state: dict[tuple[str, str], int] = {}

    def update(self, asset: str, ts: int, flags: dict[str, int]) -> list[Label]:
        """The labels this row's flags start or end."""
        labels = []
        for column, flag in flags.items():
            before = self._state.get((asset, column), 0)
            if flag != before:
                kind: LabelKind = "fault_start" if flag else "fault_end"
                labels.append(Label(asset, ts, kind, column))
                self._state[(asset, column)] = flag
        return labels


class PendingLabels:
    """Labels from a file, handed out in time order as the stream reaches them."""

    def __init__(self, labels: Iterable[Label]) -> None:
        self._labels = sorted(labels, key=lambda label: label.ts, reverse=True)

    def due(self, ts: int) -> list[Label]:
        """Labels to send before the reading at ``ts``: those before it, and those at ``ts``
        except a ``fault_end`` (windows are inclusive: it follows the window's last reading).
        """
        found = []
        while self._labels and (
            self._labels[-1].ts < ts
            or (self._labels[-1].ts == ts and self._labels[-1].kind != "fault_end")
        ):
            found.append(self._labels.pop())
        return found

    def rest(self) -> list[Label]:
        """Every label not handed out yet (after the stream's last reading)."""
        found, self._labels = self._labels[::-1], []
        return found


def load_label_file(path: Path, data_file: Path, asset: str | None) -> list[Label]:
    """Labels for ``data_file`` from NAB windows JSON or a labels table (CSV or Parquet)."""
    if path.suffix.lower() == ".json":
        if asset is None:
            raise ValueError("NAB windows need a fixed asset (nab or skab layout)")
        return _nab_windows(path, data_file, asset)
    return _label_table(path, asset)


def _nab_windows(path: Path, data_file: Path, asset: str) -> list[Label]:
    windows = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(windows, dict):
        raise ValueError(f"{path}: expected an object of file -> windows")
    name = data_file.resolve().as_posix()
    keys = [key for key in windows if name.endswith("/" + key.lstrip("/"))]
    if not keys:
        raise ValueError(f"{path} has no windows for {data_file}")
    labels = []
    for start, end in windows[max(keys, key=len)]:
        labels.append(Label(asset, parse_timestamp(start), "fault_start", NAB_FAULT))
        labels.append(Label(asset, parse_timestamp(end), "fault_end", NAB_FAULT))
    return labels


def _label_table(path: Path, asset: str | None) -> list[Label]:
    table = open_table(path)
    columns = {
        name: table.header.index(name)
        for name in ("asset", "ts", "kind", "fault")
        if name in table.header
    }
    if {"ts", "kind"} - columns.keys():
        raise ValueError(f"{path}: a labels table needs ts and kind columns")
    labels = []
    for number, cells in table.rows():
        kind = str(cells[columns["kind"]])
        if kind not in get_args(LabelKind):
            raise BadRow(f"{path}:{number}: unknown label kind {kind!r}")
        owner = str(cells[columns["asset"]]) if "asset" in columns else asset
        fault = cells[columns["fault"]] if "fault" in columns else None
        if owner is None or (asset is not None and owner != asset):
            continue
        ts = parse_timestamp(cells[columns["ts"]])
        labels.append(Label(owner, ts, cast(LabelKind, kind), str(fault) if fault else None))
    return labels
