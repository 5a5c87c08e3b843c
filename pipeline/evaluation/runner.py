"""Run ``detect`` over every file of a folder, optionally on several cores, with a progress bar.

Each file gets its own fresh :class:`Processor`, so files are independent and running them in
worker processes changes nothing but the wall time: results come back in file order. The garbage
collector is tuned as in ``serve`` (:func:`~pipeline.collector.tune_collector`).
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from pipeline.collector import tune_collector
from pipeline.errors import DatasetError
from pipeline.evaluation.detect import Detection, detect
from pipeline.evaluation.loaders import Format, load
from pipeline.settings import Settings

__all__ = ["FileResult", "Run", "discover", "run_files"]


@dataclass(frozen=True)
class FileResult:
    """One file's detection, named by its path relative to the data folder."""

    name: str
    detection: Detection


@dataclass(frozen=True)
class Run:
    """All files' detections, in file order, and the time they took."""

    files: list[FileResult]
    wall_seconds: float
    jobs: int

    @property
    def rows(self) -> int:
        return sum(result.detection.rows for result in self.files)

    @property
    def cpu_seconds(self) -> float:
        """CPU time spent inside the detector loop, summed over files and processes."""
        return sum(result.detection.cpu_seconds for result in self.files)

    @property
    def rate_per_core(self) -> float:
        """Readings per CPU-second through the detector: the rate of one dedicated core."""
        return self.rows / self.cpu_seconds if self.cpu_seconds > 0 else 0.0

    def summary(self) -> str:
        """A line with the per-core rate, the wall time and the dead letters, if any."""
        model = next((r.detection.model for r in self.files if r.detection.model), "?")
        dead = sum(sum(r.detection.dead_letters.values()) for r in self.files)
        line = (
            f"detector {model}: {self.rate_per_core:,.0f} readings/s per core "
            f"({self.rows:,} readings in {self.cpu_seconds:.1f} s of detector CPU time); "
            f"{len(self.files)} files in {self.wall_seconds:.1f} s wall on {self.jobs} process(es)"
        )
        return line + (f"; {dead} rows dead-lettered (scored 0)" if dead else "")


def discover(data_dir: Path) -> list[tuple[str, Path]]:
    """Every ``*.csv`` under ``data_dir``, sorted, named by its relative POSIX path."""
    if not data_dir.is_dir():
        raise DatasetError(f"data folder not found: {data_dir}")
    files = sorted(data_dir.rglob("*.csv"))
    if not files:
        raise DatasetError(f"no CSV files under {data_dir}")
    return [(path.relative_to(data_dir).as_posix(), path) for path in files]


def run_files(
    files: Sequence[tuple[str, Path]],
    fmt: Format,
    settings: Settings,
    jobs: int = 1,
    progress: bool = True,
) -> Run:
    """Detect on every file; ``jobs > 1`` spreads files over worker processes."""
    tasks = [(name, path, fmt, settings) for name, path in files]
    started = time.perf_counter()
    bar = tqdm(total=len(tasks), unit="file", disable=not progress, leave=False)
    results: list[FileResult] = []
    with bar:
        if jobs <= 1:
            for task in tasks:
                results.append(_detect_file(task))
                bar.update()
        else:
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
                for result in pool.map(_detect_file, tasks):
                    results.append(result)
                    bar.update()
    return Run(results, time.perf_counter() - started, max(1, jobs))


def _detect_file(task: tuple[str, Path, Format, Settings]) -> FileResult:
    name, path, fmt, settings = task
    tune_collector()  # as in ``serve``: the detectors' windows are many long-lived objects
    return FileResult(name, detect(load(path, fmt, name=Path(name).stem), settings))
