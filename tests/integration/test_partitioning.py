"""librdkafka's partitioner puts each asset's readings where ``partition_of`` says."""

from __future__ import annotations

import subprocess
import sys

import orjson
import pytest
from prometheus_client import CollectorRegistry

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
