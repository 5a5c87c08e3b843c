from __future__ import annotations

import collections
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from confluent_kafka import Consumer, Message, TopicPartition

from pipeline.settings import TopicSettings
from producers.cli import simulate

pytestmark = pytest.mark.integration


def write_settings(path: Path, topics: TopicSettings) -> Path:
    path.write_text(f'[topics]\nreadings = "{topics.readings}"\nlabels = "{topics.labels}"\n')
    return path


Row = tuple[int, str, dict[str, Any]]


def as_row(message: Message) -> Row:
    assert message.error() is None, message.error()
    key, value, partition = message.key(), message.value(), message.partition()
    assert key is not None and value is not None and partition is not None
    return partition, key.decode(), orjson.loads(value)


def read_all(
    config: dict[str, str], topic: str, expected: int, timeout_s: float = 60.0
) -> list[Row]:
    """Every message of ``topic`` (all partitions, from the start) as (partition, key, value)."""
    consumer = Consumer({**config, "group.id": "simulate-test", "enable.auto.commit": "false"})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        found: list[Row] = []
        deadline = time.monotonic() + timeout_s
        while len(found) < expected and time.monotonic() < deadline:
            found += [as_row(message) for message in consumer.consume(1000, timeout=0.5)]
        found += [as_row(message) for message in consumer.consume(1000, timeout=1.0)]  # extras?
        return found
    finally:
        consumer.close()


def test_simulate_sends_every_reading_and_label_keyed_by_asset(
    kafka_broker, topic_settings, tmp_path
):
    config = write_settings(tmp_path / "linewatch.toml", topic_settings)
    result = CliRunner().invoke(
        simulate,
        [
            "--assets",
            "5",
            "--rate",
            "50",
            "--duration",
            "70",
            "--speed",
            "0",
            "--seed",
            "4",
            "--start-ts",
            "1700000000000",
            "--fault",
            "asset-002:bearing_wear@5",
            "--fault",
            "asset-004:imbalance@30",
            "--bootstrap-servers",
            kafka_broker.bootstrap,
            "--config",
            str(config),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "3500 readings, 3 labels" in result.stderr

    readings = read_all(kafka_broker.config, topic_settings.readings, 3500)
    labels = read_all(kafka_broker.config, topic_settings.labels, 3)
    assert len(readings) == 3500
    assert all(key == value["asset"] for _, key, value in readings + labels)
    partitions: dict[str, set[int]] = collections.defaultdict(set)
    sequences: dict[str, list[int]] = collections.defaultdict(list)
    for partition, key, value in readings:
        partitions[key].add(partition)
        sequences[key].append(value["seq"])
    assert all(len(found) == 1 for found in partitions.values())  # one asset, one partition
    assert all(seqs == list(range(700)) for seqs in sequences.values())  # in order, no dupes
    assert sorted((v["asset"], v["kind"]) for _, _, v in labels) == [
        ("asset-002", "failure"),
        ("asset-002", "fault_start"),
        ("asset-004", "fault_start"),
    ]
