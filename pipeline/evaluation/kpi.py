"""Process KPI regression: an online regressor, prequential, against a batch linear regression.

The online model replays the table row by row, strictly online: each row is predicted, then
learned, before the next row is read; its errors are prequential (test-then-train). The
baseline is an ordinary least-squares fit on standardised features over the first
``train_fraction`` of the rows, scored on the rest. Both are scored on those same test rows.

Examples
--------
>>> import numpy as np
>>> metrics(np.array([1.0, -2.0, 2.0]))
Metrics(rows=3, mae=1.666..., rmse=1.732...)
>>> X = np.arange(10.0).reshape(-1, 1)
>>> batch = batch_baseline(X, 3.0 * X[:, 0] + 1.0, train_rows=7, features=("x",))
>>> batch.predictions.round(6).tolist(), round(batch.effects["x"], 4)
([22.0, 25.0, 28.0], 6.0)
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from tqdm import tqdm

from pipeline.errors import DatasetError
from pipeline.evaluation.kpi_models import build_regressor, describe, feature_effects
from pipeline.evaluation.kpi_table import KpiTable
from pipeline.settings import KpiSettings

__all__ = [
    "Batch",
    "KpiResult",
    "Metrics",
    "Online",
    "batch_baseline",
    "evaluate_kpi",
    "metrics",
    "prequential",
    "train_rows_for",
]

_Array = npt.NDArray[np.float64]
_PROGRESS_MIN_ROWS = 20_000
_PROGRESS_STEP = 1_000


@dataclass(frozen=True)
class Metrics:
    """Mean absolute and root mean squared error over ``rows`` rows."""

    rows: int
    mae: float
    rmse: float


def metrics(errors: _Array) -> Metrics:
    """MAE and RMSE of prediction errors (prediction minus truth)."""
    return Metrics(
        rows=len(errors),
        mae=float(np.mean(np.abs(errors))),
        rmse=float(np.sqrt(np.mean(errors * errors))),
    )


@dataclass(frozen=True)
class Online:
    """The online model's prediction of every row, made before it learned that row."""

    model: str
    predictions: _Array
    cpu_seconds: float
    """CPU time of the predict-and-learn loop (stable on a busy machine, unlike wall time)."""
    effects: dict[str, float]
    """Change of the prediction per +1 standard deviation of each feature, after the last row."""

    @property
    def rows_per_second(self) -> float:
        return len(self.predictions) / max(self.cpu_seconds, 1e-9)


@dataclass(frozen=True)
class Batch:
    """The batch baseline's predictions of the test rows and its weights."""

    predictions: _Array
    effects: dict[str, float]
    """Least-squares weight of each feature standardised on the training rows."""


def prequential(table: KpiTable, settings: KpiSettings, progress: bool = False) -> Online:
    """Replay ``table`` through a fresh regressor: predict each row, then learn it."""
    model = build_regressor(settings)
    features = table.features
    predictions = np.empty(len(table))
    show = progress and len(table) >= _PROGRESS_MIN_ROWS
    # disable=None: a bar on a terminal only, nothing in logs
    bar = tqdm(total=len(table), unit="row", disable=None if show else True, leave=False)
    started = time.process_time()
    with bar:
        for i, (row, y) in enumerate(zip(table.X.tolist(), table.y.tolist(), strict=True)):
            x = dict(zip(features, row, strict=True))
            predictions[i] = model.predict_one(x)
            model.learn_one(x, y)
            if show and i % _PROGRESS_STEP == _PROGRESS_STEP - 1:
                bar.update(_PROGRESS_STEP)
    seconds = time.process_time() - started
    return Online(describe(settings), predictions, seconds, feature_effects(model, features))


def batch_baseline(X: _Array, y: _Array, train_rows: int, features: Sequence[str]) -> Batch:
    """Least squares with an intercept on features standardised over the first rows.

    A feature constant over the training rows keeps its raw values (unit spread); the
    minimum-norm solution then gives it no weight.
    """
    train = X[:train_rows]
    mean = train.mean(axis=0)
    spread = train.std(axis=0)
    spread[spread == 0] = 1.0
    design = np.column_stack([np.ones(len(X)), (X - mean) / spread])
    coef, *_ = np.linalg.lstsq(design[:train_rows], y[:train_rows], rcond=None)
    effects = {name: float(w) for name, w in zip(features, coef[1:], strict=True)}
    return Batch(design[train_rows:] @ coef, effects)


def train_rows_for(rows: int, train_fraction: float) -> int:
    """Rows of the batch baseline's training split; at least 2 train and 1 test row.

    >>> train_rows_for(10, 0.7)
    7
    """
    train = int(rows * train_fraction)
    if train < 2 or rows - train < 1:
        raise DatasetError(
            f"{rows} usable row(s) cannot be split {train_fraction:g}/{1 - train_fraction:g}: "
            "need at least 2 training rows and 1 test row"
        )
    return train


@dataclass(frozen=True)
class KpiResult:
    """Everything ``linewatch evaluate kpi`` prints."""

    table: KpiTable
    train_rows: int
    online: Online
    batch: Batch

    @property
    def online_all(self) -> Metrics:
        return metrics(self.online.predictions - self.table.y)

    @property
    def online_test(self) -> Metrics:
        start = self.train_rows
        return metrics(self.online.predictions[start:] - self.table.y[start:])

    @property
    def batch_test(self) -> Metrics:
        return metrics(self.batch.predictions - self.table.y[self.train_rows :])

    @property
    def rmse_ratio(self) -> float:
        """Online over batch test RMSE (1.10 is 10 % worse than the batch fit)."""
        return self.online_test.rmse / max(self.batch_test.rmse, 1e-300)


def evaluate_kpi(
    table: KpiTable, settings: KpiSettings, train_fraction: float, progress: bool = False
) -> KpiResult:
    """Run the online model over the table and the batch baseline on its split."""
    train_rows = train_rows_for(len(table), train_fraction)
    online = prequential(table, settings, progress=progress)
    batch = batch_baseline(table.X, table.y, train_rows, table.features)
    return KpiResult(table, train_rows, online, batch)
