"""Raw rows of a CSV or Parquet file: a header and numbered rows of cells.

Examples
--------
>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "x.csv"
>>> _ = path.write_text("timestamp;value\\n2024-01-01 00:00:00;1.5\\n")
>>> table = open_table(path, delimiter=";")
>>> table.header, list(table.rows()), count_rows(path)
(('timestamp', 'value'), [(2, ['2024-01-01 00:00:00', '1.5'])], 1)
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["PARQUET_SUFFIXES", "Table", "count_rows", "open_table"]

PARQUET_SUFFIXES = (".parquet", ".pq")
Row = tuple[int, Sequence[Any]]
"""A row's position (CSV: its line number; Parquet: its row number from 1) and its cells."""


def _is_parquet(path: Path) -> bool:
    return path.suffix.lower() in PARQUET_SUFFIXES


@dataclass(frozen=True)
class Table:
    """A readable table: its header and a way to iterate its rows from the start."""

    path: Path
    header: tuple[str, ...]
    delimiter: str

    def rows(self) -> Iterator[Row]:
        """Every data row, in file order, with its line (CSV) or row (Parquet) number."""
        if _is_parquet(self.path):
            yield from _parquet_rows(self.path)
            return
        with self.path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle, delimiter=self.delimiter)
            next(reader, None)
            for cells in reader:
                if cells:
                    yield reader.line_num, cells


def open_table(path: Path, delimiter: str = ",") -> Table:
    """Open ``path`` and read its header (``OSError``/``ValueError`` if it has none)."""
    if _is_parquet(path):
        import pyarrow.parquet as pq  # slow to import: only when needed

        header = tuple(pq.ParquetFile(path).schema_arrow.names)
    else:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            first = next(csv.reader(handle, delimiter=delimiter), None)
        if not first:
            raise ValueError(f"{path} is empty: no header row")
        header = tuple(name.strip() for name in first)
    return Table(path, header, delimiter)


def count_rows(path: Path) -> int:
    """Data rows in ``path`` (CSV: non-empty lines after the header), for progress and ETA."""
    if _is_parquet(path):
        import pyarrow.parquet as pq

        rows: int = pq.ParquetFile(path).metadata.num_rows
        return rows
    with path.open("rb") as handle:
        return max(0, sum(1 for line in handle if line.strip()) - 1)


def _parquet_rows(path: Path) -> Iterator[Row]:
    import pyarrow.parquet as pq

    number = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=65_536):
        columns = [column.to_pylist() for column in batch.columns]
        for cells in zip(*columns, strict=True):
            number += 1
            yield number, cells
