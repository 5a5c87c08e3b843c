"""librdkafka's partitioner puts each asset's readings where ``partition_of`` says, and the
load generator and ``linewatch simulate`` send each partition's assets in turn."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner
from prometheus_client import CollectorRegistry

from pipeline.settings import TopicSettings
from producers.cli import simulate
from producers.fleet import Fleet, asset_name
from producers.metrics import ProducerMetrics
from producers.partitioning import partition_of, phases_by_partition
from producers.publish import KafkaPublisher
from tests.integration.kafka_io import read_all, write_config

pytestmark = pytest.mark.integration


def test_readings_land_in_the_partition_that_partition_of_gives(kafka_broker, topic_settings):
    assets, partitions = 40, topic_settings.partitions
    names = [asset_name(index) for index in range(assets)]
    fleet = Fleet(assets, seed=1, phases=phases_by_partition(names, partitions))
    publisher = KafkaPublisher(
        kafka_broker.config,
        topic_settings.readings,
        topic_settings.labels,
        ProducerMetrics(CollectorRegistry(), "test"),
    )
    with publisher:
        publisher.publish_many(list(fleet.encoded(3)))
    received = read_all(kafka_broker.bootstrap, topic_settings.readings, 3 * assets)
    assert len(received) == 3 * assets
    landed = {(m.key() or b"").decode(): m.partition() for m in received}
    assert landed == {name: partition_of(name.encode(), partitions) for name in names}
    assert len(set(landed.values())) == partitions  # the check covers every partition


def test_the_load_generator_sends_each_partitions_assets_in_turn(
    kafka_broker, topic_settings, tmp_path
):
    config = write_config(tmp_path / "linewatch.toml", kafka_broker.bootstrap, topic_settings)
    partitions = str(topic_settings.partitions)
    argv = ["--config", str(config), "--assets", "12", "--rate", "120", "--duration", "1"]
    result = subprocess.run(
        [sys.executable, "-m", "bench.speed.loadgen", *argv, "--partitions", partitions],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    received = read_all(kafka_broker.bootstrap, topic_settings.readings, 120)
    stamped = sorted((orjson.loads(m.value() or b"{}")["ts"], m.partition() or 0) for m in received)
    assert len(stamped) == 120
    ticks = [stamped[start : start + 12] for start in range(0, 120, 12)]
    for tick in ticks:  # within each tick, one partition after another
        order = [partition for _, partition in tick]
        assert order == sorted(order)
    assert len({partition for _, partition in stamped}) == topic_settings.partitions


def simulated(kafka_broker, topics: TopicSettings, path: Path, order: list[str]) -> list[str]:
    """The assets of ``linewatch simulate`` (12 assets, 10 ticks, ``order`` options) within
    each tick, in timestamp order, checking that every tick holds each asset once."""
    config = write_config(path, kafka_broker.bootstrap, topics)
    argv = ["--config", str(config), "--assets", "12", "--rate", "120", "--duration", "1"]
    result = CliRunner().invoke(simulate, [*argv, "--speed", "0", *order])
    assert result.exit_code == 0, result.output
    received = read_all(kafka_broker.bootstrap, topics.readings, 120)
    assert len(received) == 120
    stamped = sorted((orjson.loads(m.value() or b"{}")["ts"], m.key() or b"") for m in received)
    ticks = [[key.decode() for _, key in stamped[at : at + 12]] for at in range(0, 120, 12)]
    assert all(tick == ticks[0] for tick in ticks)
    return ticks[0]


def test_simulate_sends_each_partitions_assets_in_turn(kafka_broker, topic_settings, tmp_path):
    names = [asset_name(index) for index in range(12)]
    partitions = topic_settings.partitions
    by_partition = sorted(names, key=lambda name: (partition_of(name.encode(), partitions), name))
    assert by_partition != names  # asset order mixes the partitions: the test tells them apart
    assert simulated(kafka_broker, topic_settings, tmp_path / "lw.toml", []) == by_partition


def test_simulate_in_asset_order_when_told(kafka_broker, topic_settings, tmp_path):
    order = simulated(kafka_broker, topic_settings, tmp_path / "lw.toml", ["--order", "asset"])
    assert order == [asset_name(index) for index in range(12)]


def test_the_publisher_knows_the_readings_topics_partitions(kafka_broker, topic_settings):
    def publisher(topic: str) -> KafkaPublisher:
        metrics = ProducerMetrics(CollectorRegistry(), "test")
        return KafkaPublisher(kafka_broker.config, topic, topic_settings.labels, metrics)

    assert publisher(topic_settings.readings).readings_partitions() == topic_settings.partitions
    absent = publisher(f"absent.{topic_settings.readings}")
    assert absent.readings_partitions(timeout_s=2.0) is None
