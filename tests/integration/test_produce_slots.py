"""Outputs are produced with positional arguments (:mod:`pipeline.produce`): each value
lands in the slot of ``Producer.produce`` meant for it, read back from the real broker."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import (
    TIMESTAMP_CREATE_TIME,
    KafkaError,
    KafkaException,
    Message,
    Producer,
)

from pipeline.produce import Output, produce_all, produce_many, produce_one
from tests.integration.eos_io import topic_size
from tests.integration.kafka_io import read_all

pytestmark = pytest.mark.integration

_TS = int(time.time() * 1000) - 3_600_000
"""An hour ago: older than the producer's clock, but inside the topics' 7-day retention (a
record stamped in 2023 was deleted by the broker's retention check a second after it was
produced, before the test read it back)."""


class TestPositionalProduce:
    def test_key_value_partition_timestamp_headers_and_report_land_in_their_slots(
        self, kafka_broker, topic_settings
    ):
        topic, reports = topic_settings.scores, []

        def on_delivery(error: KafkaError | None, message: Message) -> None:
            reports.append((error, message.key()))

        producer = Producer(kafka_broker.config)
        produce_one(producer, topic, b"k1", b"v1", [("h", b"1")], 2, on_delivery, _full, _TS)
        produce_many(producer, topic, [(b"k2", b"v2")], [("h", b"2")], on_delivery, _full)
        assert producer.flush(30) == 0
        # Two partitions: their delivery reports come in either order.
        assert sorted(reports, key=lambda report: report[1] or b"") == [
            (None, b"k1"),
            (None, b"k2"),
        ]
        first, second = sorted(read_all(kafka_broker.bootstrap, topic, 2), key=_key)
        assert (first.key(), first.value(), first.partition()) == (b"k1", b"v1", 2)
        assert first.timestamp() == (TIMESTAMP_CREATE_TIME, _TS)
        assert first.headers() == [("h", b"1")]
        assert (second.key(), second.value(), second.headers()) == (b"k2", b"v2", [("h", b"2")])
        assert second.timestamp()[1] > _TS  # 0: the producer's clock

    def test_held_outputs_land_in_their_slots(self, kafka_broker, topic_settings):
        """``produce_all`` (the outputs held during a background commit): each its own
        topic, key, value, headers, partition and timestamp, in order."""
        scores, alerts, reports = topic_settings.scores, topic_settings.alerts, []

        def on_delivery(error: KafkaError | None, message: Message) -> None:
            reports.append((error, message.key()))

        producer = Producer(kafka_broker.config)
        held: list[Output] = [
            (scores, b"k1", b"v1", [("h", b"1")], 1, _TS),
            (alerts, b"k2", b"v2", [("h", b"2")], 2, _TS + 1),
            (scores, b"k3", b"v3", [], 1, _TS + 2),
        ]
        produce_all(producer, held, on_delivery, _full)
        assert producer.flush(30) == 0
        assert sorted(reports, key=lambda report: report[1] or b"") == [
            (None, b"k1"),
            (None, b"k2"),
            (None, b"k3"),
        ]
        first, third = read_all(kafka_broker.bootstrap, scores, 2)  # one partition: in order
        (second,) = read_all(kafka_broker.bootstrap, alerts, 1)
        for message, (topic, key, value, headers, partition, ts) in zip(
            (first, second, third), held, strict=True
        ):
            assert (message.topic(), message.key(), message.value()) == (topic, key, value)
            assert (message.partition(), message.headers() or []) == (partition, headers)
            assert message.timestamp() == (TIMESTAMP_CREATE_TIME, ts)


class TestDeliveredOutputsAreReleased:
    def test_batches_beyond_the_queue_limit_never_find_it_full(self, kafka_broker, topic_settings):
        """librdkafka counts a delivered message against ``queue.buffering.max.messages``
        until its report is served: the batch loops serve them first, so three batches of
        500 go through a queue of 600 without waiting (``on_full`` is never called)."""
        topic, partitions = topic_settings.scores, topic_settings.partitions
        config = {**kafka_broker.config, "queue.buffering.max.messages": 600, "linger.ms": 1}
        producer = Producer({**config, "delivery.report.only.error": True})
        records = [(b"k", b"v")] * 500
        for batch in range(3):
            if batch == 2:
                produce_all(producer, [(topic, b"k", b"v", [], -1, 0)] * 500, None, _full)
            else:
                produce_many(producer, topic, records, [], None, _full)
            _wait_until_written(kafka_broker.bootstrap, topic, partitions, 500 * (batch + 1))
        assert producer.flush(30) == 0

    def test_without_serving_them_the_queue_fills(self, kafka_broker, topic_settings):
        """The same producer without the serving: the second batch finds the queue full."""
        topic, partitions = topic_settings.scores, topic_settings.partitions
        config = {**kafka_broker.config, "queue.buffering.max.messages": 600, "linger.ms": 1}
        producer = Producer({**config, "delivery.report.only.error": True})
        for _ in range(500):
            producer.produce(topic, b"v", b"k")
        _wait_until_written(kafka_broker.bootstrap, topic, partitions, 500)
        with pytest.raises(BufferError):
            for _ in range(500):
                producer.produce(topic, b"v", b"k")
        assert producer.flush(30) == 0


def _wait_until_written(bootstrap: str, topic: str, partitions: int, count: int) -> None:
    """Until the topic holds ``count`` messages, then a moment for their acknowledgements."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            written = topic_size(bootstrap, topic, partitions)
        except KafkaException:  # a new topic's leaders may not be known yet
            written = 0
        if written >= count:
            time.sleep(1.0)  # the acknowledgements follow within milliseconds
            return
        time.sleep(0.05)
    raise AssertionError(f"{topic} did not reach {count} messages")


def _full() -> None:
    raise AssertionError("the local queue cannot fill here")


def _key(message: Message) -> bytes:
    return message.key() or b""
