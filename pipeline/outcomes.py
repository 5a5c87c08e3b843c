"""A batch's outcomes in order, with the readings a fleet scored kept as columns.

:class:`~pipeline.fastpath.BatchPath` scores a fleet's readings a *round* at a time; making a
:class:`~pipeline.messages.Score` and an :class:`~pipeline.processor.Outcome` for each of them
cost more than scoring it. :class:`Outcomes` keeps each round's results as the columns they
were computed in (:class:`ScoredRound`) and gives the service what it needs from them
directly: the encoded score messages (:meth:`Outcomes.encoded_scores`, one msgspec call each,
the bytes :func:`~pipeline.messages.encode` gives), the alerts, the assets touched and the
metrics' columns. Anything that indexes or iterates it gets ordinary ``Outcome`` objects,
made once on first access, equal to those the per-reading path makes
(``tests/pipeline/test_outcomes.py``).

Examples
--------
>>> from pipeline.messages import Reading, encode
>>> outcomes = Outcomes(2)
>>> reading = Reading("p", 5, {"t": 1.0})
>>> outcomes.add(ScoredRound(positions=[1], readings=[reading], assets=["p"], ts=[5],
...     scores=[0.25], thresholds=[0.9], anomalous=[False], model="m",
...     contributions=[{"t": 1.0}], alerts=[None]))
>>> outcomes.encoded_scores()[1] == encode(outcomes[1].score)
True
>>> outcomes[0] is None, outcomes[1].score.score, outcomes[1].reading is reading
(True, 0.25, True)
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from typing import TYPE_CHECKING, cast, overload

import msgspec

from pipeline.detectors.fleet_shares import Contribution, shares_dict
from pipeline.messages import Alert, Reading, Score, encode_score

if TYPE_CHECKING:
    from pipeline.decoding import WireReading
    from pipeline.processor import DeadLetter, Outcome
    from pipeline.row_decoding import RowReading

__all__ = ["Outcomes", "ScoreMessage", "ScoredRound"]


class ScoreMessage(msgspec.Struct):
    """A :class:`~pipeline.messages.Score` of a fleet round as it is encoded: the same fields
    in the same order (a round has no supervised ones: :func:`~pipeline.messages.encode`
    leaves them out when ``None``)."""

    asset: str
    ts: int
    score: float
    threshold: float
    anomaly: bool
    model: str
    contributions: Contribution


_encode = msgspec.json.Encoder().encode


class ScoredRound:
    """One fleet round's results: column ``i`` is the reading at batch position
    ``positions[i]`` (scores and thresholds already rounded to 6 digits, as a Score holds them;
    ``assets`` and ``ts`` are the readings')."""

    __slots__ = (
        "positions",
        "readings",
        "assets",
        "ts",
        "scores",
        "thresholds",
        "anomalous",
        "model",
        "contributions",
        "alerts",
    )

    def __init__(
        self,
        *,
        positions: list[int],
        readings: Sequence[Reading | WireReading | RowReading],
        assets: list[str],
        ts: list[int],
        scores: list[float],
        thresholds: list[float],
        anomalous: list[bool],
        model: str,
        contributions: Sequence[Contribution],
        alerts: list[Alert | None],
    ) -> None:
        self.positions = positions
        self.readings = readings
        self.assets = assets
        self.ts = ts
        self.scores = scores
        self.thresholds = thresholds
        self.anomalous = anomalous
        self.model = model
        self.contributions = contributions
        self.alerts = alerts

    def encoded(self) -> list[bytes]:
        """Each column's score message."""
        message, model = ScoreMessage, self.model
        return [
            _encode(message(asset, ts, score, threshold, flag, model, shares))
            for asset, ts, score, threshold, flag, shares in zip(
                self.assets,
                self.ts,
                self.scores,
                self.thresholds,
                self.anomalous,
                self.contributions,
                strict=True,
            )
        ]

    def outcomes(self) -> list[Outcome]:
        """Each column as the Outcome the per-reading path makes."""
        from pipeline.processor import Outcome

        model = self.model
        return [
            Outcome(
                Score(
                    reading.asset, reading.ts, score, threshold, flag, model, shares_dict(shares)
                ),
                alert,
                reading=reading if isinstance(reading, Reading) else reading.reading(),
            )
            for reading, score, threshold, flag, shares, alert in zip(
                self.readings,
                self.scores,
                self.thresholds,
                self.anomalous,
                self.contributions,
                self.alerts,
                strict=True,
            )
        ]


class Outcomes(Sequence["Outcome"]):
    """One outcome per message of a batch, in order (``None`` only while being filled).

    ``items`` holds the outcomes made one by one (dead letters, readings scored on their own);
    ``rounds`` the fleet rounds, until something asks for their Outcome objects.
    """

    def __init__(self, size: int) -> None:
        self.items: list[Outcome | None] = [None] * size
        self.rounds: list[ScoredRound] = []

    @classmethod
    def of(cls, outcomes: Sequence[Outcome]) -> Outcomes:
        """Outcomes made one by one (e.g. with supervision), as an :class:`Outcomes`."""
        made = cls(0)
        made.items = list(outcomes)
        return made

    def add(self, scored: ScoredRound) -> None:
        """Hold a fleet round's results for their positions."""
        self.rounds.append(scored)

    def __len__(self) -> int:
        return len(self.items)

    @overload
    def __getitem__(self, index: int) -> Outcome: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Outcome]: ...

    def __getitem__(self, index: int | slice) -> Outcome | Sequence[Outcome]:
        self._materialise()
        return self.items[index]  # type: ignore[return-value]

    def __iter__(self) -> Iterator[Outcome]:
        self._materialise()
        return iter(self.items)  # type: ignore[arg-type]

    def _materialise(self) -> None:
        items = self.items
        for scored in self.rounds:
            for position, outcome in zip(scored.positions, scored.outcomes(), strict=True):
                items[position] = outcome
        self.rounds = []

    # --- what the service takes from a batch, without an object per reading -------------

    def _made(self) -> list[tuple[int, Outcome]]:
        """The outcomes made one by one, with their positions (none, usually: one C-level
        count of the empty places says so, instead of a loop over the batch)."""
        items = self.items
        if items.count(None) == len(items):
            return []
        return [
            (position, outcome) for position, outcome in enumerate(items) if outcome is not None
        ]

    def encoded_scores(self) -> list[bytes | None]:
        """The score message of each position (``None`` for a dead letter)."""
        made, rounds = self._made(), self.rounds
        if not made and len(rounds) == 1 and len(rounds[0].positions) == len(self.items):
            return cast(list[bytes | None], rounds[0].encoded())  # every position, in order
        values: list[bytes | None] = [None] * len(self.items)
        for position, outcome in made:
            if outcome.score is not None:
                values[position] = encode_score(outcome.score)
        for scored in rounds:
            for position, value in zip(scored.positions, scored.encoded(), strict=True):
                values[position] = value
        return values

    def alerts(self) -> list[tuple[int, Alert, bool]]:
        """``(position, alert, fault)`` of every alert in order; ``fault`` for an Outcome's
        ``fault_alert`` (supervised), which comes after its reading's other alert."""
        found: list[tuple[int, Alert, bool]] = []
        for position, outcome in self._made():
            if outcome.alert is not None:
                found.append((position, outcome.alert, False))
            if outcome.fault_alert is not None:
                found.append((position, outcome.fault_alert, True))
        for scored in self.rounds:
            if any(scored.alerts):
                for position, alert in zip(scored.positions, scored.alerts, strict=True):
                    if alert is not None:
                        found.append((position, alert, False))
        found.sort(key=lambda item: (item[0], item[2]))
        return found

    def touched(self, partitions: list[int]) -> dict[str, int]:
        """Each scored asset with the partition of its last message (``partitions`` by position)."""
        touched: dict[str, int] = {}
        for scored in self.rounds:  # in order for each asset (a fleet's rounds, then its next)
            positions = map(partitions.__getitem__, scored.positions)
            touched.update(zip(scored.assets, positions, strict=False))
        for position, score, _ in self._later_items():
            touched[score.asset] = partitions[position]
        return touched

    def latest(
        self, only: Collection[str] | None = None
    ) -> tuple[list[int], dict[str, tuple[float, float, dict[str, float]]]]:
        """Every score's ``ts``, and each asset's last ``(score, threshold, channel values)``
        (of the assets in ``only`` alone, if given: the metrics' tracked ones)."""
        ts: list[int] = []
        last: dict[str, tuple[float, float, dict[str, float]]] = {}
        for scored in self.rounds:
            ts += scored.ts
            if only is None:
                values = [reading.values for reading in scored.readings]
                columns = zip(scored.scores, scored.thresholds, values, strict=True)
                last.update(zip(scored.assets, columns, strict=True))
                continue
            # each asset's last column in the round (a dict keeps the last one written)
            column = dict(zip(scored.assets, range(len(scored.assets)), strict=True))
            for asset in only:
                if (at := column.get(asset)) is not None:
                    values_at = scored.readings[at].values
                    last[asset] = (scored.scores[at], scored.thresholds[at], values_at)
        for _, score, reading in self._later_items():
            if only is None or score.asset in only:
                values_of = reading.values if reading else {}
                last[score.asset] = (score.score, score.threshold, values_of)
        ts += [o.score.ts for _, o in self._made() if o.score is not None]
        return ts, last

    def _later_items(self) -> list[tuple[int, Score, Reading | None]]:
        """The scores of ``items`` that come after any of their asset's in ``rounds``, in
        order, with their positions and readings (items and rounds rarely share an asset)."""
        scored = [
            (position, outcome.score, outcome.reading)
            for position, outcome in self._made()
            if outcome.score is not None
        ]
        if not scored or not self.rounds:
            return scored
        in_rounds: dict[str, int] = {}
        for held in self.rounds:
            in_rounds.update(zip(held.assets, held.positions, strict=True))
        later = []
        for position, score, reading in scored:
            assert score is not None
            if in_rounds.get(score.asset, -1) < position:
                later.append((position, score, reading))
        return later

    def dead_letters(self) -> list[DeadLetter]:
        """The dead letters, in order."""
        return [o.dead_letter for _, o in self._made() if o.dead_letter is not None]
