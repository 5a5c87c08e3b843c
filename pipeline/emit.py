"""A batch's outputs: scores, alerts and dead letters, to the producer or held for the next
transaction while a background commit is under way (:mod:`pipeline.background`).

A dead letter must always be producible, or its replay would fail forever: its value is the
rejected message's as it came, up to ``serve.max_message_bytes`` (longer: ``oversized``, cut
there); its key and its ``error.message`` are cut at :data:`MAX_DEAD_LETTER_KEY_BYTES` and
:data:`MAX_ERROR_MESSAGE_BYTES`. A cut one says so in a header (``error.value_truncated``,
``error.key_truncated``: the length it had). The settings make sure the producer takes the
largest (:data:`pipeline.settings.DEAD_LETTER_HEADROOM_BYTES`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import cast

from pipeline.background import BackgroundCommit
from pipeline.consumed import Consumed
from pipeline.messages import Alert, encode
from pipeline.metrics import ServiceMetrics
from pipeline.outcomes import Outcomes
from pipeline.outputs import Headers, Outputs
from pipeline.processor import DeadLetter, Outcome, Source
from pipeline.settings import TopicSettings

__all__ = ["MAX_DEAD_LETTER_KEY_BYTES", "MAX_ERROR_MESSAGE_BYTES", "Emitter", "cut"]

AlertListener = Callable[[Alert], None]
MAX_DEAD_LETTER_KEY_BYTES = 1024
"""A dead letter's key beyond this many bytes is cut (keys are asset ids, at most 128)."""
MAX_ERROR_MESSAGE_BYTES = 1024
"""A dead letter's ``error.message`` header beyond this many bytes is cut."""


class Emitter:
    """Routes the outcomes of the service's batches to the output topics.

    ``outputs`` is the service's current producer; the service replaces it (and this
    attribute) when it renews the producer. ``max_value_bytes``: ``serve.max_message_bytes``,
    where a dead letter's value is cut.
    """

    def __init__(
        self,
        topics: TopicSettings,
        outputs: Outputs,
        commits: BackgroundCommit,
        metrics: ServiceMetrics,
        on_alert: AlertListener | None,
        *,
        max_value_bytes: int,
    ) -> None:
        self.topics = topics
        self.max_value_bytes = max_value_bytes
        self.outputs = outputs
        self._commits = commits
        self._metrics = metrics
        self._on_alert = on_alert

    def batch(
        self, outcomes: Sequence[Outcome], messages: Sequence[tuple[bytes | None, Source]]
    ) -> dict[str, int]:
        """Produce a batch's scores, alerts and dead letters; metrics once for the batch.

        Returns the assets whose models changed, each with its partition (for the snapshots).
        Scores carry no headers: a score's Kafka timestamp is the instant it was made (the
        producer's clock, or the instant it was held during a commit). The batch's alerts
        share one ``linewatch.processed_at_ms`` header with that instant.
        """
        if not isinstance(outcomes, Outcomes):
            outcomes = Outcomes.of(outcomes)
        self._metrics.observe_outcomes(outcomes)
        holding = self._commits.busy
        produce = self._commits.hold if holding else self.outputs.produce
        for letter in outcomes.dead_letters():
            self.dead_letter(letter)
        values = outcomes.encoded_scores()
        batch = Consumed.of_pairs(messages)
        keys = batch.keys
        scores: Iterable[tuple[bytes | None, bytes]]
        if None in values or None in keys:  # dead letters, or messages without a key
            scores = self._keyed(outcomes, keys, values)
        else:  # every message has its score: no list of pairs (zip reuses its tuple)
            scores = cast(Iterable[tuple[bytes | None, bytes]], zip(keys, values, strict=True))
        alerts_topic = self.topics.alerts
        alerts = outcomes.alerts()
        now: Headers = [("linewatch.processed_at_ms", _now_ms())] if alerts else []
        for position, alert, _ in alerts:
            produce(alerts_topic, keys[position] or alert.asset.encode(), encode(alert), now, -1)
            if self._on_alert is not None:
                self._on_alert(alert)
        if holding:  # a commit is under way: the next transaction takes them
            self._commits.hold_many(self.topics.scores, scores, None)
        else:
            self.outputs.produce_many(self.topics.scores, scores, None)
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
        """The rejected message, as it came, with the reason and its source in headers
        (cut where it would not fit: see the module docstring)."""
        source = letter.source
        headers: Headers = [
            ("error.class", letter.error_class.encode()),
            ("error.reason", letter.reason.encode()),
            ("error.message", cut(letter.message.encode(), MAX_ERROR_MESSAGE_BYTES)),
            ("source.topic", source.topic.encode()),
            ("source.partition", str(source.partition).encode()),
            ("source.offset", str(source.offset).encode()),
        ]
        key, value = source.key, letter.value
        if key is not None and len(key) > MAX_DEAD_LETTER_KEY_BYTES:
            headers.append(("error.key_truncated", str(len(key)).encode()))
            key = key[:MAX_DEAD_LETTER_KEY_BYTES]
        if value is not None and len(value) > self.max_value_bytes:
            headers.append(("error.value_truncated", str(len(value)).encode()))
            value = value[: self.max_value_bytes]
        produce = self._commits.hold if self._commits.busy else self.outputs.produce
        produce(self.topics.deadletter, key, value, headers, -1)


def cut(data: bytes, limit: int) -> bytes:
    """UTF-8 ``data``, or if longer than ``limit`` bytes its first whole characters that fit
    with ``...`` after them (a character is never split: headers stay valid UTF-8).

    >>> cut(b"abcdef", 5), cut(b"abc", 5), cut("aé".encode(), 5), cut("aéé".encode(), 5)
    (b'ab...', b'abc', b'a\\xc3\\xa9', b'a...')
    """
    if len(data) <= limit:
        return data
    return data[: limit - 3].decode("utf-8", "ignore").encode() + b"..."


def _now_ms() -> bytes:
    """The wall clock in ms, as a header value."""
    return str(int(time.time() * 1000)).encode()
