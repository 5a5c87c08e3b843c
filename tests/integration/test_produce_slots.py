"""Outputs are produced with positional arguments (:mod:`pipeline.produce`): each value
lands in the slot of ``Producer.produce`` meant for it, read back from the real broker."""

from __future__ import annotations

import pytest
from confluent_kafka import TIMESTAMP_CREATE_TIME, KafkaError, Message, Producer

from pipeline.produce import Output, produce_all, produce_many, produce_one
from tests.integration.kafka_io import read_all

pytestmark = pytest.mark.integration

_TS = 1_700_000_000_123


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


def _full() -> None:
    raise AssertionError("the local queue cannot fill with two messages")


def _key(message: Message) -> bytes:
    return message.key() or b""
