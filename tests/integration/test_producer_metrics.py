"""Producers count what the real broker acknowledged, and serve it on 127.0.0.1."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import urllib.request

import pytest
from prometheus_client import CollectorRegistry

from producers.metrics import ProducerMetrics
from producers.publish import KafkaPublisher
from producers.records import Encoded
from producers.simulator import FaultSpec, Fleet
from tests.integration.kafka_io import read_all, write_config

pytestmark = pytest.mark.integration


def test_acknowledged_readings_and_labels_are_counted(kafka_broker, topic_settings):
    metrics = ProducerMetrics(CollectorRegistry(), producer="simulate")
    publisher = KafkaPublisher(
        kafka_broker.config, topic_settings.readings, topic_settings.labels, metrics=metrics
    )
    fleet = Fleet(2, seed=1, faults=[FaultSpec("asset-001", "imbalance", 1.0)])
    with publisher:
        for record in fleet.records(300):
            publisher.publish(record)
    assert metrics.readings_sent._value.get() == 600  # type: ignore[attr-defined]
    assert metrics.labels_sent._value.get() == 1  # type: ignore[attr-defined]
    assert metrics.delivery_errors._value.get() == 0  # type: ignore[attr-defined]


def test_publish_many_sends_encoded_readings_and_labels_in_order(kafka_broker, topic_settings):
    metrics = ProducerMetrics(CollectorRegistry(), producer="simulate")
    publisher = KafkaPublisher(
        kafka_broker.config, topic_settings.readings, topic_settings.labels, metrics=metrics
    )
    fleet = Fleet(2, seed=1, faults=[FaultSpec("asset-001", "imbalance", 1.0)])
    records = list(fleet.encoded(300))
    with publisher:
        for start in range(0, len(records), 7):  # odd slices: ticks of any size
            publisher.publish_many(records[start : start + 7])
    readings = [r for r in records if isinstance(r, Encoded)]
    assert metrics.readings_sent._value.get() == 600  # type: ignore[attr-defined]
    assert metrics.labels_sent._value.get() == 1  # type: ignore[attr-defined]
    received = read_all(kafka_broker.bootstrap, topic_settings.readings, 600)
    for asset in ("asset-000", "asset-001"):
        sent = [r.payload for r in readings if r.asset == asset]
        got = [m.value() for m in received if m.key() == asset.encode()]
        assert got == sent  # every reading, in order, keyed by its asset
    [label] = read_all(kafka_broker.bootstrap, topic_settings.labels, 1)
    assert label.key() == b"asset-001"


def test_simulate_serves_its_metrics_while_it_runs(kafka_broker, topic_settings, tmp_path):
    config = write_config(tmp_path / "linewatch.toml", kafka_broker.bootstrap, topic_settings)
    stderr = tmp_path / "simulate.stderr"
    with stderr.open("w") as sink:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pipeline",
                "simulate",
                "--config",
                str(config),
                "--assets",
                "2",
                "--rate",
                "50",
                "--duration",
                "30",
                "--metrics-port",
                "0",
            ],
            stderr=sink,
        )
    try:
        url, deadline = None, time.monotonic() + 60
        while url is None and time.monotonic() < deadline:
            found = re.search(r"metrics at (http://\S+)", stderr.read_text())
            url = found.group(1) if found else None
            time.sleep(0.2)
        assert url is not None and url.startswith("http://127.0.0.1:"), stderr.read_text()
        sent = 0.0
        while sent == 0.0 and time.monotonic() < deadline:
            text = urllib.request.urlopen(url, timeout=10).read().decode()
            sent = float(
                re.findall(r"^linewatch_producer_readings_sent_total\{.*\} (\S+)$", text, re.M)[0]
            )
            time.sleep(0.5)
        assert sent > 0
        assert "linewatch_producer_delivery_errors_total" in text
    finally:
        process.terminate()
        assert process.wait(timeout=60) == 0
