"""A batch's outputs: scores, alerts and dead letters, to the producer or held for the next
transaction while a background commit is under way (:mod:`pipeline.background`)."""

from __future__ import annotations

import time
from collections.abc import Callable

from pipeline.background import BackgroundCommit
from pipeline.messages import Alert, encode, encode_score
from pipeline.metrics import ServiceMetrics
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
        self, outcomes: list[Outcome], messages: list[tuple[bytes | None, Source]]
    ) -> dict[str, int]:
        """Produce a batch's scores, alerts and dead letters; metrics once for the batch.

        Returns the assets whose models changed, each with its partition (for the snapshots).
        """
        self._metrics.observe_outcomes(outcomes)
        alerts_topic = self.topics.alerts
        now: Headers = [("linewatch.processed_at_ms", str(int(time.time() * 1000)).encode())]
        holding = self._commits.busy
        produce = self._commits.hold if holding else self.outputs.produce
        scores: list[tuple[bytes | None, bytes]] = []
        touched: dict[str, int] = {}
        for outcome, (_, source) in zip(outcomes, messages, strict=True):
            score = outcome.score
            if score is None:
                assert outcome.dead_letter is not None
                self.dead_letter(outcome.dead_letter)
                continue
            touched[score.asset] = source.partition
            scores.append((source.key or score.asset.encode(), encode_score(score)))
            if outcome.alert is not None or outcome.fault_alert is not None:
                for alert in (outcome.alert, outcome.fault_alert):
                    if alert is not None:
                        produce(alerts_topic, scores[-1][0], encode(alert), now, -1)
                        if self._on_alert is not None:
                            self._on_alert(alert)
        if holding:  # a commit is under way: the next transaction takes them
            for key, value in scores:
                produce(self.topics.scores, key, value, now, -1)
        else:
            self.outputs.produce_many(self.topics.scores, scores, now)
        return touched

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
