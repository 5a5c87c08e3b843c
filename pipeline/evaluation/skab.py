"""SKAB's outlier-detection metrics: F1, false alarm rate and missing alarm rate.

SKAB's protocol scores each anomalous file's rows after its first ``WARMUP_ROWS`` (the rows a
model is fitted on) and pools the confusion counts over all files before taking the ratios.

Examples
--------
>>> counts = confusion([0, 0, 1, 1, 1], [0, 1, 1, 1, 0])
>>> counts
Confusion(tp=2, fp=1, tn=1, fn=1)
>>> round(counts.f1, 3), counts.far, round(counts.mar, 2)
(0.667, 50.0, 33.33)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["WARMUP_ROWS", "Confusion", "confusion", "pooled"]

WARMUP_ROWS = 400
"""Rows at the start of every SKAB file that are training data, never scored."""


@dataclass(frozen=True, slots=True)
class Confusion:
    """Row counts of a binary detector against labels."""

    tp: int
    fp: int
    tn: int
    fn: int

    def __add__(self, other: Confusion) -> Confusion:
        return Confusion(
            self.tp + other.tp, self.fp + other.fp, self.tn + other.tn, self.fn + other.fn
        )

    @property
    def f1(self) -> float:
        """``2 TP / (2 TP + FP + FN)``; 0 when there is nothing to find and nothing found."""
        denominator = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / denominator if denominator else 0.0

    @property
    def far(self) -> float:
        """False alarm rate in percent: ``100 FP / (FP + TN)``."""
        negatives = self.fp + self.tn
        return 100.0 * self.fp / negatives if negatives else 0.0

    @property
    def mar(self) -> float:
        """Missing alarm rate in percent: ``100 FN / (FN + TP)``."""
        positives = self.fn + self.tp
        return 100.0 * self.fn / positives if positives else 0.0


def confusion(labels: npt.ArrayLike, predictions: npt.ArrayLike) -> Confusion:
    """Confusion counts of 0/1 ``predictions`` against 0/1 ``labels`` (all rows)."""
    truth = np.asarray(labels, dtype=np.float64) > 0.5
    alarm = np.asarray(predictions, dtype=np.float64) > 0.5
    if truth.shape != alarm.shape:
        raise ValueError(f"{truth.size} labels but {alarm.size} predictions")
    return Confusion(
        tp=int(np.sum(truth & alarm)),
        fp=int(np.sum(~truth & alarm)),
        tn=int(np.sum(~truth & ~alarm)),
        fn=int(np.sum(truth & ~alarm)),
    )


def pooled(
    files: Iterable[tuple[npt.ArrayLike, npt.ArrayLike]], warmup: int = WARMUP_ROWS
) -> Confusion:
    """Counts pooled over files of ``(labels, predictions)``, each without its warm-up rows.

    >>> pooled([([1, 1, 0], [0, 1, 0]), ([0, 1], [1, 1])], warmup=1)
    Confusion(tp=2, fp=0, tn=1, fn=0)
    """
    total = Confusion(0, 0, 0, 0)
    for labels, predictions in files:
        truth, alarm = np.asarray(labels), np.asarray(predictions)
        total = total + confusion(truth[warmup:], alarm[warmup:])
    return total
