"""Prequential (test-then-train) metrics: every prediction is scored before its target is learned.

Classifier: ROC AUC (from fixed-width histograms of the predicted probability of each class,
so memory is bounded; ties within a bin count one half), and precision, recall and F1 of
``p >= threshold``. Regressor: MAE and RMSE of the remaining useful life. Warning lead times
are kept per failure (``None``: no warning before it).

Examples
--------
>>> metrics = Prequential(threshold=0.5)
>>> for y, p in [(True, 0.9), (True, 0.4), (False, 0.3), (False, 0.1), (False, 0.6)]:
...     metrics.update(y, p, rul_true_s=0.0, rul_pred_s=3.0)
>>> round(metrics.roc_auc, 3), metrics.precision, metrics.recall, metrics.f1
(0.833, 0.5, 0.5, 0.5)
>>> metrics.mae_s, metrics.rmse_s
(3.0, 3.0)
>>> metrics.add_lead(120.0); metrics.add_lead(None); metrics.median_lead_s  # (120 + 0) / 2
60.0
"""

from __future__ import annotations

import math
import statistics

__all__ = ["Prequential"]

_BINS = 1000


class Prequential:
    """Running test-then-train metrics of one classifier/regressor pair."""

    def __init__(self, threshold: float = 0.5, bins: int = _BINS) -> None:
        self.threshold = threshold
        self.bins = bins
        self.positives = [0] * bins
        self.negatives = [0] * bins
        self.tp = self.fp = self.fn = self.tn = 0
        self.abs_error = self.sq_error = 0.0
        self.n_regression = 0
        self.leads: list[float | None] = []

    def update(self, y: bool, p: float, rul_true_s: float, rul_pred_s: float) -> None:
        """Score one prediction against its target."""
        index = min(self.bins - 1, max(0, int(p * self.bins)))
        alarm = p >= self.threshold
        if y:
            self.positives[index] += 1
            self.tp += alarm
            self.fn += not alarm
        else:
            self.negatives[index] += 1
            self.fp += alarm
            self.tn += not alarm
        error = rul_pred_s - rul_true_s
        self.abs_error += abs(error)
        self.sq_error += error * error
        self.n_regression += 1

    def add_lead(self, lead_s: float | None) -> None:
        """Record a failure: its warning lead time, or ``None`` when it came unwarned."""
        self.leads.append(lead_s)

    @property
    def n(self) -> int:
        """Predictions scored."""
        return self.tp + self.fp + self.fn + self.tn

    @property
    def roc_auc(self) -> float:
        """Probability that a positive is ranked above a negative (NaN without both)."""
        n_pos, n_neg = sum(self.positives), sum(self.negatives)
        if n_pos == 0 or n_neg == 0:
            return math.nan
        below = 0
        wins = 0.0
        for pos, neg in zip(self.positives, self.negatives, strict=True):
            wins += pos * (below + 0.5 * neg)
            below += neg
        return wins / (n_pos * n_neg)

    @property
    def precision(self) -> float:
        """Of the predictions ``p >= threshold``, the share that were followed by a failure."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else math.nan

    @property
    def recall(self) -> float:
        """Of the readings followed by a failure, the share predicted ``p >= threshold``."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else math.nan

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall."""
        total = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / total if total else math.nan

    @property
    def mae_s(self) -> float:
        """Mean absolute error of the RUL, seconds."""
        return self.abs_error / self.n_regression if self.n_regression else math.nan

    @property
    def rmse_s(self) -> float:
        """Root mean squared error of the RUL, seconds."""
        return math.sqrt(self.sq_error / self.n_regression) if self.n_regression else math.nan

    @property
    def median_lead_s(self) -> float:
        """Median warning lead time; a failure without warning counts as 0."""
        if not self.leads:
            return math.nan
        return float(statistics.median(lead or 0.0 for lead in self.leads))
