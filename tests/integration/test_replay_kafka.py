"""Replay every recorded series of ../shared/datasets through the real broker, exactly once."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from confluent_kafka import Consumer, TopicPartition

from pipeline.settings import TopicSettings
from producers.replay.cli import replay

pytestmark = pytest.mark.integration

DATASETS = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"
NAB_FILES = sorted((DATASETS / "nab" / "data").glob("*/*.csv"))
SKAB_FILES = sorted((DATASETS / "skab").glob("*/*.csv"))
NAB_WINDOWS = DATASETS / "nab" / "labels" / "combined_windows.json"


def data_rows(path: Path, delimiter: str) -> int:
    with path.open(newline="") as handle:
        return sum(1 for row in csv.reader(handle, delimiter=delimiter) if row) - 1


def anomaly_steps(path: Path) -> int:
    """Steps of SKAB's anomaly and changepoint columns (each one label)."""
    steps = 0
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter=";"))
    for column in ("anomaly", "changepoint"):
        if rows and column in rows[0]:
            flags = [0] + [int(float(row[column])) for row in rows]
            steps += sum(a != b for a, b in zip(flags, flags[1:], strict=False))
    return steps


def topic_count(bootstrap: str, topic: str) -> int:
    """Messages in ``topic``: the sum of its partitions' high watermarks (nothing deleted)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "replay-count"})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        total = 0
        for partition in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), 10)
            assert low == 0
            total += high
        return total
    finally:
        consumer.close()


def write_settings(path: Path, bootstrap: str, topics: TopicSettings) -> Path:
    path.write_text(
        f'bootstrap_servers = "{bootstrap}"\n'
        f'[topics]\nreadings = "{topics.readings}"\nlabels = "{topics.labels}"\n'
    )
    return path


def test_every_dataset_file_replays_exactly_once(kafka_broker, topic_settings, tmp_path):
    assert len(NAB_FILES) == 51 and len(SKAB_FILES) == 17, DATASETS
    config = write_settings(tmp_path / "linewatch.toml", kafka_broker.bootstrap, topic_settings)
    runs = [
        (NAB_FILES, ["--format", "nab", "--labels", str(NAB_WINDOWS)]),
        (SKAB_FILES, ["--format", "skab"]),
    ]
    for files, options in runs:
        args = [*map(str, files), *options, "--max-speed", "--config", str(config)]
        result = CliRunner().invoke(replay, args, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert " 0 bad rows" in result.stderr

    nab_rows = sum(data_rows(path, ",") for path in NAB_FILES)
    skab_rows = sum(data_rows(path, ";") for path in SKAB_FILES)
    assert nab_rows == 295_997
    assert topic_count(kafka_broker.bootstrap, topic_settings.readings) == nab_rows + skab_rows

    windows = sum(len(w) for w in json.loads(NAB_WINDOWS.read_text()).values())
    labels = 2 * windows + sum(anomaly_steps(path) for path in SKAB_FILES)
    assert topic_count(kafka_broker.bootstrap, topic_settings.labels) == labels
