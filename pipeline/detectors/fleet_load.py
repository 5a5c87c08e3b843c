"""Loading the fleets' compiled kernels before the service is ready."""

from __future__ import annotations

import numpy as np

from pipeline.detectors.fleet_mahalanobis import MahalanobisFleet
from pipeline.detectors.fleet_zscore import ZScoreFleet
from pipeline.detectors.zscore import MIN_COUNT
from pipeline.settings import ModelSettings

__all__ = ["load_kernels"]


def load_kernels(settings: ModelSettings) -> None:
    """Load (or compile) the kernels the fleet of ``settings.kind`` calls, by scoring and
    learning enough rounds of a one-asset fleet that it scores: the service does this before
    it is ready, so its first batch does not pay for it (~0.2 s of CPU from numba's cache,
    ~2 s to compile once). Kinds without a fleet load nothing."""
    fleet: MahalanobisFleet | ZScoreFleet
    if settings.kind == "mahalanobis":
        fleet = MahalanobisFleet(("x",), settings)
    elif settings.kind == "zscore":
        fleet = ZScoreFleet(("x",), settings)
    else:
        return
    rows = np.array([fleet.new_row()], dtype=np.intp)
    for turn in range(MIN_COUNT + 2):  # ready for both (more than channels + 1 and MIN_COUNT)
        result = fleet.score(rows, np.array([[float(turn % 7)]]))
        fleet.learn(result, np.ones(1, dtype=np.bool_))
