"""A detector double with scripted scores, for the wrappers' tests (Confirmed, Refractory)."""

from __future__ import annotations


class Scripted:
    """Returns ``scores`` one per reading and records what it learned; ``opinions`` (if any)
    are returned by :meth:`opinion`, which counts how often it was asked."""

    def __init__(
        self,
        scores: list[float],
        opinions: list[float] | None = None,
        contributions: dict[str, float] | None = None,
    ) -> None:
        self.name = "scripted"
        self._scores = iter(scores)
        self._opinions = iter(opinions or [])
        self._contributions = contributions or {}
        self.asked = 0
        self.learned: list[dict[str, float]] = []

    def score_one(self, x: dict[str, float]) -> float:
        return next(self._scores)

    def learn_one(self, x: dict[str, float]) -> None:
        self.learned.append(x)

    def contributions(self, x: dict[str, float]) -> dict[str, float]:
        return self._contributions

    def is_outlier(self, x: dict[str, float]) -> bool:
        return False


class WithOpinion(Scripted):
    """:class:`Scripted` that also gives an opinion of the latest reading."""

    def opinion(self) -> float:
        self.asked += 1
        return next(self._opinions)
