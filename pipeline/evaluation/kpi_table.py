"""Read a production table (CSV or Parquet) into the features and the target of a KPI regression.

The table has one row per produced unit or batch: process parameters (numbers), a target
column (yield, energy, a quality measure) and optionally a timestamp column. Rows are kept in
time order: a file whose timestamps go back is sorted by them (stably) and :attr:`KpiTable.sorted`
says so. Rows with a missing or non-finite target or feature are skipped and counted.

Examples
--------
>>> import io
>>> text = "ts,temp,batch,energy\\n1,180,A,40.5\\n2,,B,41\\n3,185,C,42\\n"
>>> table = read_table(io.StringIO(text), target="energy", exclude=("batch",))
>>> table.features, table.y.tolist(), table.skipped
(('temp',), [40.5, 42.0], 1)
"""

from __future__ import annotations

import csv
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import numpy.typing as npt
import pandas as pd

from pipeline.errors import DatasetError

__all__ = ["TIME_COLUMNS", "KpiTable", "read_table"]

TIME_COLUMNS = ("timestamp", "ts", "time", "datetime", "date")
"""Column names taken as the timestamp when ``--timestamp`` is not given."""
_PARQUET = (".parquet", ".pq")


@dataclass(frozen=True)
class KpiTable:
    """The rows to replay, in order: features ``X`` (rows x features) and target ``y``."""

    name: str
    target: str
    features: tuple[str, ...]
    X: npt.NDArray[np.float64]
    y: npt.NDArray[np.float64]
    timestamp: str | None
    skipped: int
    """Rows left out because the target or a feature was missing or not finite."""
    sorted: bool
    """True when the file was not in time order and its rows were sorted by the timestamp."""

    def __len__(self) -> int:
        return len(self.y)


def read_table(
    source: Path | IO[str],
    target: str,
    features: Sequence[str] | None = None,
    exclude: Sequence[str] = (),
    timestamp: str | None = None,
) -> KpiTable:
    """Read ``source`` and pick the target, the features and the timestamp column.

    Parameters
    ----------
    source
        A CSV file (or text stream), or a ``.parquet``/``.pq`` file.
    target
        The column to predict.
    features
        The input columns; every other numeric column when ``None``.
    exclude
        Columns never used as features (other KPIs, identifiers).
    timestamp
        The time column; the first of :data:`TIME_COLUMNS` present when ``None``.
    """
    name = source.name if isinstance(source, Path) else "table"
    frame = _read(source, name)
    time_column = _time_column(frame, timestamp, name)
    columns = _feature_columns(frame, target, features, exclude, time_column, name)
    frame, was_sorted = _in_time_order(frame, time_column, name)
    values = frame[[*columns, target]].to_numpy(dtype=np.float64)
    finite = np.isfinite(values).all(axis=1)
    if not finite.any():
        raise DatasetError(f"{name}: no row has a finite {target!r} and features")
    return KpiTable(
        name=name,
        target=target,
        features=tuple(columns),
        X=np.ascontiguousarray(values[finite, :-1]),
        y=np.ascontiguousarray(values[finite, -1]),
        timestamp=time_column,
        skipped=int((~finite).sum()),
        sorted=was_sorted,
    )


def _read(source: Path | IO[str], name: str) -> pd.DataFrame:
    try:
        if isinstance(source, Path) and source.suffix.lower() in _PARQUET:
            frame = pd.read_parquet(source)
        else:
            frame = pd.read_csv(source, sep=_delimiter(source))
    except pd.errors.EmptyDataError as exc:
        raise DatasetError(f"{name} is empty") from exc
    except (OSError, ValueError, ImportError) as exc:
        raise DatasetError(f"cannot read {name}: {exc}") from exc
    if frame.empty:
        raise DatasetError(f"{name} has no rows")
    return frame


def _delimiter(source: Path | IO[str]) -> str:
    """The CSV file's delimiter (``,`` ``;`` tab ``|``) from its first line; ``,`` for streams."""
    if not isinstance(source, Path):
        return ","
    with source.open(newline="", errors="replace") as handle:
        first = handle.readline()
    try:
        return csv.Sniffer().sniff(first, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def _time_column(frame: pd.DataFrame, timestamp: str | None, name: str) -> str | None:
    if timestamp is not None:
        if timestamp not in frame.columns:
            raise DatasetError(f"{name}: no timestamp column {timestamp!r}{_listing(frame)}")
        return timestamp
    return next((column for column in TIME_COLUMNS if column in frame.columns), None)


def _feature_columns(
    frame: pd.DataFrame,
    target: str,
    features: Sequence[str] | None,
    exclude: Sequence[str],
    time_column: str | None,
    name: str,
) -> list[str]:
    wanted = [target, *(features or ()), *exclude]
    missing = [column for column in dict.fromkeys(wanted) if column not in frame.columns]
    if missing:
        raise DatasetError(f"{name}: no column(s) {missing}{_listing(frame)}")
    if features is None:
        skip = {target, time_column, *exclude}
        features = [str(column) for column in frame.columns if column not in skip]
    columns = list(dict.fromkeys(features))
    if target in columns:
        raise DatasetError(f"{name}: the target {target!r} cannot also be a feature")
    if not columns:
        raise DatasetError(f"{name}: no feature columns left besides the target {target!r}")
    text = [c for c in [*columns, target] if not pd.api.types.is_numeric_dtype(frame[c])]
    if text:
        hint = "" if target in text else "; choose numeric ones with --features or --exclude"
        raise DatasetError(f"{name}: column(s) {text} are not numeric{hint}")
    return columns


def _in_time_order(
    frame: pd.DataFrame, time_column: str | None, name: str
) -> tuple[pd.DataFrame, bool]:
    if time_column is None:
        return frame, False
    stamps = frame[time_column]
    if not pd.api.types.is_numeric_dtype(stamps):
        stamps = _parse_times(stamps, time_column, name)
    if stamps.isna().any():
        rows = [int(i) + 1 for i in np.flatnonzero(stamps.isna().to_numpy())[:5]]
        raise DatasetError(f"{name}: column {time_column!r} is empty in data row(s) {rows}")
    if stamps.is_monotonic_increasing:
        return frame, False
    order = np.argsort(stamps.to_numpy(), kind="stable")
    return frame.iloc[order].reset_index(drop=True), True


def _parse_times(stamps: pd.Series, column: str, name: str) -> pd.Series:
    """Timestamps as UTC datetimes: one inferred format (fast), else each parsed on its own."""
    try:
        with warnings.catch_warnings():  # "could not infer format": the mixed parse follows
            warnings.simplefilter("ignore", UserWarning)
            return pd.to_datetime(stamps, utc=True)
    except (ValueError, TypeError):
        pass
    try:
        return pd.to_datetime(stamps, utc=True, format="mixed")
    except (ValueError, TypeError) as exc:
        raise DatasetError(f"{name}: column {column!r} is not a timestamp: {exc}") from exc


def _listing(frame: pd.DataFrame) -> str:
    return f"; the columns are {[str(c) for c in frame.columns]}"
