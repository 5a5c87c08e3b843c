"""Run a recording through the service's own data path, strictly online, one row at a time.

Every row becomes a Reading and goes through :meth:`Processor.process_reading` — the same
models, alert policy and checks ``serve`` runs, built from the same :class:`Settings`. Row ``i``
is scored before row ``i + 1`` is even read, so nothing later can change it.

The output has one row per input row, in input order:

- ``timestamp``: as written in the input;
- ``anomaly_score``: the model's calibrated score in [0, 1];
- ``is_anomaly``: 1 while the row's asset has a raised alarm (from the ``raised`` Alert to the
  ``cleared`` one, which is 0), i.e. what an operator sees — not the per-reading flag;
- the input's label columns, unchanged.

A row the service would dead-letter (for instance a repeated timestamp with identical values)
keeps its place with score 0 and its asset's alarm state; ``Detection.dead_letters`` counts them.

Examples
--------
>>> import io
>>> from pipeline.evaluation.loaders import load
>>> from pipeline.settings import Settings
>>> rows = "".join(f"2024-01-01 00:{m:02d}:00,{m % 3}\\n" for m in range(60))
>>> recording = load(io.StringIO("timestamp,value\\n" + rows), "nab", "demo")
>>> detection = detect(recording, Settings.load(None))
>>> list(detection.frame.columns), len(detection.frame)
(['timestamp', 'anomaly_score', 'is_anomaly'], 60)
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from pipeline.evaluation.loaders import Recording, replay
from pipeline.processor import Processor
from pipeline.settings import Settings

__all__ = ["Detection", "detect"]


@dataclass(frozen=True)
class Detection:
    """The detector's output for one recording, and how long the detector took."""

    frame: pd.DataFrame
    threshold: npt.NDArray[np.float64]
    """The threshold each row's score was compared with (NaN for dead-lettered rows)."""
    seconds: float
    """Wall-clock time of the detector loop."""
    cpu_seconds: float
    """CPU time of the detector loop: what one core spent, whatever else the machine runs."""
    dead_letters: Counter[str]
    model: str

    @property
    def rows(self) -> int:
        return len(self.frame)


def detect(recording: Recording, settings: Settings) -> Detection:
    """Score every row of ``recording`` with a fresh :class:`Processor` built from ``settings``."""
    processor = Processor(settings)
    n_rows = len(recording)
    scores = np.zeros(n_rows)
    thresholds = np.full(n_rows, np.nan)
    alarms = np.zeros(n_rows, dtype=np.int8)
    raised: dict[str, bool] = {}
    dead: Counter[str] = Counter()
    model = ""
    started, cpu_started = time.perf_counter(), time.process_time()
    for row, reading in enumerate(replay(recording)):
        outcome = processor.process_reading(reading)
        if outcome.alert is not None:
            raised[reading.asset] = outcome.alert.state == "raised"
        alarms[row] = raised.get(reading.asset, False)
        if outcome.score is not None:
            scores[row] = outcome.score.score
            thresholds[row] = outcome.score.threshold
            model = outcome.score.model
        elif outcome.dead_letter is not None:
            dead[outcome.dead_letter.reason] += 1
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    frame = pd.DataFrame(
        {"timestamp": recording.timestamps, "anomaly_score": scores, "is_anomaly": alarms}
    )
    for column in recording.labels.columns:
        frame[column] = recording.labels[column].to_numpy()
    return Detection(frame, thresholds, seconds, cpu_seconds, dead, model)
