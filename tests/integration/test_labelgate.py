"""The labels-first gate on a real broker: readings resume once their labels are consumed."""

from __future__ import annotations

import time
import uuid

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from pipeline.labelgate import LabelGate
from pipeline.settings import TopicSettings

pytestmark = pytest.mark.integration

LABELS = 5
PARTITION = 1


def _write_labels(config: dict[str, str], topic: str, transactional: bool) -> None:
    if not transactional:
        producer = Producer(config)
        for i in range(LABELS):
            producer.produce(topic, value=b"label %d" % i, partition=PARTITION)
        assert producer.flush(30) == 0
        return
    producer = Producer({**config, "transactional.id": f"labels-{uuid.uuid4().hex}"})
    producer.init_transactions(30)
    producer.begin_transaction()
    for i in range(LABELS):
        producer.produce(topic, value=b"label %d" % i, partition=PARTITION)
    producer.commit_transaction(30)


def _consumer(config: dict[str, str], topics: TopicSettings) -> Consumer:
    consumer = Consumer(
        {
            **config,
            "group.id": f"gate-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.assign(
        [
            TopicPartition(topics.readings, PARTITION, 0),
            TopicPartition(topics.labels, PARTITION, 0),
        ]
    )
    return consumer


@pytest.mark.parametrize("transactional", [False, True], ids=["plain", "transactional"])
def test_readings_resume_once_every_label_is_consumed(kafka_broker, topic_settings, transactional):
    """Transactional labels end in a commit marker that no message carries: the gate still
    opens when the last label is consumed, not when its timeout runs out."""
    _write_labels(kafka_broker.config, topic_settings.labels, transactional)
    consumer = _consumer(kafka_broker.config, topic_settings)
    gate = LabelGate(topic_settings.readings, topic_settings.labels, timeout_s=600.0)
    try:
        gate.close(consumer, [PARTITION])
        assert PARTITION in gate.waiting
        labels_read: dict[int, int] = {}
        gate.open(consumer, labels_read)
        assert PARTITION in gate.waiting, "no label was consumed yet"
        deadline = time.monotonic() + 60
        while PARTITION in gate.waiting and time.monotonic() < deadline:
            for message in consumer.consume(100, 0.5):
                assert message.error() is None
                offset = message.offset()
                assert message.topic() == topic_settings.labels and offset is not None
                labels_read[PARTITION] = offset + 1
            gate.open(consumer, labels_read)
        assert labels_read[PARTITION] == LABELS
        assert PARTITION not in gate.waiting
    finally:
        consumer.close()
