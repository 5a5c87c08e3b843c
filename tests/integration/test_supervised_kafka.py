"""Failure prediction through a real broker: labels consumed and committed, predictions scored."""

from __future__ import annotations

import tomllib
import urllib.request

import orjson
import pytest

from tests.integration.kafka_io import (
    ServiceProcess,
    committed_lag,
    linewatch,
    read_all,
    write_config,
)

pytestmark = pytest.mark.integration

SUPERVISED = """
[supervised]
enabled = true
horizon_s = 30
label_delay_s = 0
sample_interval_s = 1
[state]
hmac_key = "integration-test-key"
"""


def metric(url: str, name: str) -> float:
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name + " ") or line.startswith(name + "{")
    )


def test_labels_are_consumed_and_committed_and_scores_carry_fault_probability(
    kafka_broker, topic_settings, tmp_path
):
    config = write_config(
        tmp_path / "linewatch.toml", kafka_broker.bootstrap, topic_settings, SUPERVISED
    )
    group = tomllib.loads(config.read_text())["serve"]["group_id"]
    sent = linewatch(
        "simulate", "--config", str(config), "--assets", "4", "--rate", "8",
        "--duration", "300", "--seed", "3", "--speed", "0", "--start-ts", "1700000000000",
        "--repair-time", "30", "--fault", "asset-001:bearing_wear@30",
        "--fault", "asset-002:bearing_wear@150",
    )  # fmt: skip
    assert sent.returncode == 0, sent.stderr
    readings = read_all(kafka_broker.bootstrap, topic_settings.readings, 2400)
    labels = read_all(kafka_broker.bootstrap, topic_settings.labels, 6)
    assert len(readings) == 2400 and len(labels) == 6

    service = ServiceProcess(config)
    try:
        url = service.metrics_url()
        scores = [
            orjson.loads(m.value() or b"")
            for m in read_all(kafka_broker.bootstrap, topic_settings.scores, len(readings))
        ]
        assert metric(url, "linewatch_supervised_labels_total") == len(labels)
        assert metric(url, "linewatch_supervised_targets_total") > 0
    finally:
        assert service.stop() == 0, service.stderr

    assert len(scores) == len(readings)
    predicted = [s for s in scores if "fault_probability" in s]
    assert len(predicted) > len(scores) / 2
    assert all(0.0 <= s["fault_probability"] <= 1.0 and s["rul_hours"] >= 0 for s in predicted)
    partitions = topic_settings.partitions
    assert committed_lag(kafka_broker.bootstrap, group, topic_settings.labels, partitions) == 0
    assert committed_lag(kafka_broker.bootstrap, group, topic_settings.readings, partitions) == 0
    # at most 4 assets' and, per partition, 4 machine types' records a commit; the service has
    # stopped, so all are there: no need to wait out the usual timeout for the most there could be
    state = read_all(kafka_broker.bootstrap, topic_settings.state, 4 + 4 * partitions, 10.0)
    assert any((m.key() or b"").startswith(b"\0type:") for m in state)
