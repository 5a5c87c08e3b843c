"""A batch's outputs: scores, alerts and dead letters, to the producer or held for the next
transaction while a background commit is under way (:mod:`pipeline.background`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from pipeline.background import BackgroundCommit
from pipeline.consumed import Consumed
from pipeline.messages import Alert, encode
from pipeline.metrics import ServiceMetrics
from pipeline.outcomes import Outcomes
from pipeline.outputs import Headers, Outputs
from pipeline.processor import DeadLetter, Outcome, Source
from pipeline.settings import TopicSettings

__all__ = ["Emitter"]

AlertListener = Callable[[Alert], None]


class Emitter:
    """Routes the outcomes of the service's batches to the output topics.

    ``outputs`` is the service's current producer; the service replaces it (and this
    attribute) when it renews the producer.
    """

    def __init__(
        self,
        topics: TopicSettings,
        outputs: Outputs,
        commits: BackgroundCommit,
        metrics: ServiceMetrics,
        on_alert: AlertListener | None,
    ) -> None:
        self.topics = topics
        self.outputs = outputs
        self._commits = commits
        self._metrics = metrics
        self._on_alert = on_alert

    def batch(
        self, outcomes: Sequence[Outcome], messages: Sequence[tuple[bytes | None, Source]]
    ) -> dict[str, int]:
        """Produce a batch's scores, alerts and dead letters; metrics once for the batch.

        Returns the assets whose models changed, each with its partition (for the snapshots).
        The batch shares one ``linewatch.processed_at_ms`` header.
        """
        if not isinstance(outcomes, Outcomes):
            outcomes = Outcomes.of(outcomes)
        self._metrics.observe_outcomes(outcomes)
        now: Headers = [("linewatch.processed_at_ms", str(int(time.time() * 1000)).encode())]
        holding = self._commits.busy
        produce = self._commits.hold if holding else self.outputs.produce
        for letter in outcomes.dead_letters():
            self.dead_letter(letter)
        values = outcomes.encoded_scores()
        batch = Consumed.of_pairs(messages)
        keys = batch.keys
        scores = [
            (key, value) for key, value in zip(keys, values, strict=True) if value is not None
        ]
        if len(scores) < len(keys) or None in keys:  # dead letters, or messages without a key
            scores = self._keyed(outcomes, keys, values)
        alerts_topic = self.topics.alerts
        for position, alert, _ in outcomes.alerts():
            produce(alerts_topic, keys[position] or alert.asset.encode(), encode(alert), now, -1)
            if self._on_alert is not None:
                self._on_alert(alert)
        if holding:  # a commit is under way: the next transaction takes them
            self._commits.hold_many(self.topics.scores, scores, now)
        else:
            self.outputs.produce_many(self.topics.scores, scores, now)
        return outcomes.touched(batch.partitions)

    @staticmethod
    def _keyed(
        outcomes: Outcomes, keys: list[bytes | None], values: list[bytes | None]
    ) -> list[tuple[bytes | None, bytes]]:
        """The scores with their keys; a message without a key gets its asset's (as bytes)."""
        scores: list[tuple[bytes | None, bytes]] = []
        for position, value in enumerate(values):
            if value is not None:
                key = keys[position]
                if key is None:
                    score = outcomes[position].score
                    assert score is not None
                    key = score.asset.encode()
                scores.append((key, value))
        return scores

    def dead_letter(self, letter: DeadLetter) -> None:
        """The rejected message, as it came, with the reason and its source in headers."""
        source = letter.source
        headers: Headers = [
            ("error.class", letter.error_class.encode()),
            ("error.reason", letter.reason.encode()),
            ("error.message", letter.message.encode()),
            ("source.topic", source.topic.encode()),
            ("source.partition", str(source.partition).encode()),
            ("source.offset", str(source.offset).encode()),
        ]
        produce = self._commits.hold if self._commits.busy else self.outputs.produce
        produce(self.topics.deadletter, source.key, letter.value, headers, -1)
