"""Fleet readings scored in rounds: the first reading of every asset in the batch, the second, ...

Each asset sees its readings strictly in order; a round costs a few array operations whatever
its size. The alert policy runs per asset (:func:`~pipeline.alerts.evaluate_round`), the
fleet learns what is not an outlier (nor, unless ``learn_anomalies``, an anomaly), and the
round's outcomes stay columns (:class:`~pipeline.outcomes.ScoredRound`).
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import chain
from typing import TYPE_CHECKING

import numpy as np

from pipeline.alerts import evaluate_round, top_channels
from pipeline.decoding import WireReading
from pipeline.detectors.fleet import Fleet, FleetSlot
from pipeline.detectors.fleet_math import python_round
from pipeline.detectors.fleet_shares import shares_dict
from pipeline.messages import Reading
from pipeline.outcomes import Outcomes, ScoredRound
from pipeline.row_decoding import RowReading

if TYPE_CHECKING:
    from pipeline.processor import AssetState

__all__ = ["FleetRounds", "Pending"]

Pending = tuple[int, "Reading | WireReading | RowReading", "AssetState", FleetSlot, Iterable[float]]
"""A reading queued for its fleet: its index in the batch, state, slot and channel values."""


class FleetRounds:
    """Scores the readings queued for fleets (see the module docstring)."""

    def __init__(self, learn_anomalies: bool, fixed_threshold: float | None) -> None:
        self._learn_anomalies = learn_anomalies
        self._fixed_threshold = fixed_threshold
        """The rounded alert threshold when it is fixed (``None``: each policy's own)."""

    def flush(self, pending: list[Pending], outcomes: Outcomes) -> None:
        """Score the queued readings, fleet by fleet, in rounds; add their outcomes."""
        if not pending:
            return
        fleet = pending[0][3].fleet
        by_fleet: dict[Fleet, list[Pending]] = {fleet: pending}
        if len({item[3].fleet for item in pending}) > 1:  # several layouts (a set: no generator)
            by_fleet = {}
            for item in pending:
                by_fleet.setdefault(item[3].fleet, []).append(item)
        for items in by_fleet.values():
            self._score_fleet(items, outcomes)

    def _score_fleet(self, items: list[Pending], outcomes: Outcomes) -> None:
        fleet = items[0][3].fleet
        width = len(fleet.channels)
        flat = chain.from_iterable([item[4] for item in items])
        values = np.fromiter(flat, np.float64, len(items) * width).reshape(len(items), width)
        rows = [item[3].row for item in items]
        if len(set(rows)) == len(rows):  # the usual batch: one reading per asset, one round
            self._score_round(fleet, np.array(rows, dtype=np.int64), values, items, outcomes)
            return
        at = np.array(rows, dtype=np.int64)
        turns = _turns(at)
        for turn in range(int(turns.max()) + 1):  # the first reading of each asset, the second...
            members = np.flatnonzero(turns == turn)
            batch = [items[p] for p in members.tolist()]
            self._score_round(fleet, at[members], values[members], batch, outcomes)

    def _score_round(
        self,
        fleet: Fleet,
        rows: np.ndarray,
        values: np.ndarray,
        batch: list[Pending],
        outcomes: Outcomes,
    ) -> None:
        result = fleet.score(rows, values)
        scores, shares = result.scores, result.contributions
        readings = [item[1] for item in batch]
        policies = [item[2].policy for item in batch]
        ts = [r.ts for r in readings]
        anomalous, alerts = evaluate_round(
            policies, ts, scores, lambda i: top_channels(shares_dict(shares[i])), fleet.name
        )
        outliers = result.outliers
        if True not in outliers and (self._learn_anomalies or True not in anomalous):
            learn = np.ones(len(batch), dtype=np.bool_)  # the usual round: learn every reading
        else:
            learn = ~np.array(outliers, dtype=np.bool_)
            if not self._learn_anomalies:  # never teach the model what an anomaly looks like
                learn &= ~np.array(anomalous, dtype=np.bool_)
        fleet.learn(result, learn)
        rounded = python_round(np.array(scores), 6).tolist()
        if self._fixed_threshold is not None:
            thresholds = [self._fixed_threshold] * len(batch)
        else:
            thresholds = [round(policy.threshold, 6) for policy in policies]
        positions = [item[0] for item in batch]
        assets = [r.asset for r in readings]
        outcomes.add(
            ScoredRound(
                positions=positions,
                readings=readings,
                assets=assets,
                ts=ts,
                scores=rounded,
                thresholds=thresholds,
                anomalous=anomalous,
                model=fleet.name,
                contributions=shares,
                alerts=alerts,
            )
        )


def _turns(rows: np.ndarray) -> np.ndarray:
    """For each position, how many times its row came before it (0 for the first).

    >>> _turns(np.array([5, 3, 5, 5, 3, 9])).tolist()
    [0, 0, 1, 2, 1, 0]
    """
    count = len(rows)
    order = np.argsort(rows, kind="stable")
    ordered = rows[order]
    starts = np.ones(count, dtype=np.bool_)
    starts[1:] = ordered[1:] != ordered[:-1]
    index = np.arange(count)
    first = np.maximum.accumulate(np.where(starts, index, 0))
    turns = np.empty(count, dtype=np.int64)
    turns[order] = index - first
    return turns
