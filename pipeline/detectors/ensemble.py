"""An ensemble: the mean of its members' calibrated probabilities.

Every member scores and learns every reading; a reading is an outlier (not learned) when any
member says so, so no member is taught a fault that another one saw.

Examples
--------
>>> from pipeline.detectors.calibration import TailCalibrator
>>> from pipeline.detectors.robust import RobustZ
>>> from pipeline.detectors.scored import CalibratedDetector
>>> members = [CalibratedDetector(f"r{i}", RobustZ(20), TailCalibrator(50)) for i in range(2)]
>>> ensemble = Ensemble(members)
>>> ensemble.name
'ensemble(r0,r1)'
>>> for i in range(60):
...     x = {"t": float(i % 3)}
...     _ = ensemble.score_one(x)
...     ensemble.learn_one(x)
>>> ensemble.score_one({"t": 9.0})
1.0
"""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.detectors.base import Detector

__all__ = ["Ensemble"]


class Ensemble:
    """Mean of member scores; contributions averaged; outlier if any member says so."""

    def __init__(self, members: Sequence[Detector]) -> None:
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = list(members)
        self.name = f"ensemble({','.join(m.name for m in self.members)})"

    def score_one(self, x: dict[str, float]) -> float:
        return sum(m.score_one(x) for m in self.members) / len(self.members)

    def learn_one(self, x: dict[str, float]) -> None:
        for member in self.members:
            member.learn_one(x)

    def contributions(self, x: dict[str, float]) -> dict[str, float]:
        total: dict[str, float] = {}
        for member in self.members:
            for name, share in member.contributions(x).items():
                total[name] = total.get(name, 0.0) + share / len(self.members)
        return {name: round(share, 4) for name, share in total.items()}

    def is_outlier(self, x: dict[str, float]) -> bool:
        return any(m.is_outlier(x) for m in self.members)
