"""Produced records to a pair of files: readings (wide table) and labels, as CSV or Parquet.

The readings file has one row per reading (``asset, ts, seq, line`` and one column per
channel); the labels file beside it (:func:`labels_path`) has ``asset, ts, kind, fault``.
:func:`open_file_publisher` picks the format from the suffix (``.parquet`` or ``.pq``:
Parquet through pyarrow, anything else: CSV).

Examples
--------
>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "run.csv"
>>> with CsvPublisher(path) as out:
...     out.publish(Reading("asset-000", 1000, {"speed_rpm": 1480.0}, seq=0))
...     out.publish(Label("asset-000", 1000, "fault_start", "bearing_wear"))
>>> print(path.read_text(), end="")
asset,ts,seq,line,speed_rpm
asset-000,1000,0,,1480.0
>>> print(labels_path(path).read_text(), end="")
asset,ts,kind,fault
asset-000,1000,fault_start,bearing_wear
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from pipeline.messages import Label, Reading, decode_reading
from producers.publish import Closing, Publisher
from producers.records import Encoded

__all__ = ["CsvPublisher", "ParquetPublisher", "labels_path", "open_file_publisher"]

PARQUET_SUFFIXES = (".parquet", ".pq")
_ROW_GROUP = 65_536
_READING_COLUMNS = (("asset", "string"), ("ts", "int64"), ("seq", "int64"), ("line", "string"))
_LABEL_COLUMNS = (("asset", "string"), ("ts", "int64"), ("kind", "string"), ("fault", "string"))


def _schema(columns: Sequence[tuple[str, str]]) -> Any:
    """A pyarrow schema (pyarrow is imported on first use: it is slow to import)."""
    import pyarrow as pa

    return pa.schema([(name, getattr(pa, kind)()) for name, kind in columns])


def labels_path(path: Path) -> Path:
    """The labels file that goes with readings file ``path``.

    >>> labels_path(Path("out/run.csv")).as_posix()
    'out/run.labels.csv'
    >>> labels_path(Path("run.parquet")).as_posix()
    'run.labels.parquet'
    """
    return path.with_suffix(".labels" + (path.suffix or ".csv"))


def open_file_publisher(path: Path) -> Publisher:
    """A Parquet publisher for ``*.parquet``/``*.pq``, else a CSV publisher."""
    if path.suffix.lower() in PARQUET_SUFFIXES:
        return ParquetPublisher(path)
    return CsvPublisher(path)


def _decoded(record: Reading | Label | Encoded) -> Reading | Label:
    """Files hold values: an encoded reading is decoded again."""
    return decode_reading(record.payload) if isinstance(record, Encoded) else record


def _check_channels(record: Reading, channels: tuple[str, ...]) -> None:
    if record.values.keys() != set(channels):
        raise ValueError(
            f"reading of {record.asset} has channels {sorted(record.values)}, "
            f"the file has {sorted(channels)}"
        )


class CsvPublisher(Closing):
    """Wide CSV readings and CSV labels; the channel columns are those of the first reading."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._readings: IO[str] = path.open("w", newline="", encoding="utf-8")
        self._labels: IO[str] = labels_path(path).open("w", newline="", encoding="utf-8")
        self._reading_rows: Any = csv.writer(self._readings)
        self._label_rows: Any = csv.writer(self._labels)
        self._label_rows.writerow(["asset", "ts", "kind", "fault"])
        self._channels: tuple[str, ...] | None = None

    def publish(self, record: Reading | Label | Encoded) -> None:
        """Append one row to the readings or the labels file."""
        record = _decoded(record)
        if isinstance(record, Label):
            self._label_rows.writerow([record.asset, record.ts, record.kind, record.fault or ""])
            return
        if self._channels is None:
            self._channels = tuple(record.values)
            self._reading_rows.writerow(["asset", "ts", "seq", "line", *self._channels])
        else:
            _check_channels(record, self._channels)
        row = [record.values[name] for name in self._channels]
        seq = "" if record.seq is None else record.seq
        self._reading_rows.writerow([record.asset, record.ts, seq, record.line or "", *row])

    def flush(self, timeout_s: float = 30.0) -> None:
        """Push buffered rows to the operating system."""
        self._readings.flush()
        self._labels.flush()

    def close(self) -> None:
        """Close both files."""
        self._readings.close()
        self._labels.close()


class ParquetPublisher(Closing):
    """Parquet readings (row groups of 65,536) and Parquet labels (written on close).

    The files are complete only after :meth:`close`.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        path.open("wb").close()  # fail early, like the CSV publisher, if it cannot be written
        self._writer: Any = None  # a pyarrow.parquet.ParquetWriter once rows arrive
        self._channels: tuple[str, ...] | None = None
        self._rows: list[Reading] = []
        self._labels: list[Label] = []
        self._closed = False

    def publish(self, record: Reading | Label | Encoded) -> None:
        """Buffer one record; a full row group goes to the file."""
        record = _decoded(record)
        if isinstance(record, Label):
            self._labels.append(record)
            return
        if self._channels is None:
            self._channels = tuple(record.values)
        else:
            _check_channels(record, self._channels)
        self._rows.append(record)
        if len(self._rows) >= _ROW_GROUP:
            self._write_rows()

    def flush(self, timeout_s: float = 30.0) -> None:
        """Write buffered readings as a row group."""
        self._write_rows()

    def close(self) -> None:
        """Write what is buffered, finish the readings file and write the labels file."""
        if self._closed:
            return
        self._closed = True
        import pyarrow as pa
        import pyarrow.parquet as pq

        self._write_rows()
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, _schema(_READING_COLUMNS))
        self._writer.close()
        columns = {
            "asset": [label.asset for label in self._labels],
            "ts": [label.ts for label in self._labels],
            "kind": [label.kind for label in self._labels],
            "fault": [label.fault for label in self._labels],
        }
        pq.write_table(pa.table(columns, schema=_schema(_LABEL_COLUMNS)), labels_path(self.path))

    def _write_rows(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not self._rows or self._channels is None:
            return
        rows, channels = self._rows, self._channels
        schema = _schema(_READING_COLUMNS + tuple((name, "float64") for name in channels))
        columns: dict[str, list[Any]] = {
            "asset": [r.asset for r in rows],
            "ts": [r.ts for r in rows],
            "seq": [r.seq for r in rows],
            "line": [r.line for r in rows],
        }
        for name in channels:
            columns[name] = [r.values[name] for r in rows]
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, schema)
        self._writer.write_table(pa.table(columns, schema=schema))
        self._rows = []
