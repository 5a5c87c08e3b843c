"""The first slice end to end: simulator -> real Kafka -> serve -> scores, alerts, dead letters."""

from __future__ import annotations

import json
import signal
import time
import urllib.request

import orjson
import pytest
from confluent_kafka import TIMESTAMP_CREATE_TIME, Producer

from pipeline.messages import Reading, encode
from tests.integration.kafka_io import (
    ServiceProcess,
    committed_lag,
    linewatch,
    read_all,
    write_config,
)

pytestmark = pytest.mark.integration


def metric(url: str, name: str) -> float:
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


class TestServeEndToEnd:
    def test_faulty_asset_alerts_and_every_reading_is_scored(
        self, kafka_broker, topic_settings, tmp_path
    ):
        config = write_config(tmp_path / "linewatch.toml", kafka_broker.bootstrap, topic_settings)
        sent = linewatch(
            "simulate",
            "--config",
            str(config),
            "--assets",
            "10",
            "--rate",
            "100",
            "--duration",
            "200",
            "--seed",
            "7",
            "--speed",
            "0",
            "--start-ts",
            "1700000000000",
            "--fault",
            "asset-004:bearing_wear@120",
        )
        assert sent.returncode == 0, sent.stderr
        readings = read_all(kafka_broker.bootstrap, topic_settings.readings, 20_000)
        assert len(readings) >= 10_000

        started_ms = int(time.time() * 1000)
        service = ServiceProcess(config)
        try:
            url = service.metrics_url()
            scores = read_all(kafka_broker.bootstrap, topic_settings.scores, len(readings))
            alert_messages = read_all(
                kafka_broker.bootstrap, topic_settings.alerts, 1, timeout_s=30
            )
            alerts = [orjson.loads(m.value() or b"") for m in alert_messages]
            assert metric(url, "linewatch_scores_total") == len(readings)
        finally:
            assert service.stop() == 0, service.stderr
        ended_ms = int(time.time() * 1000)

        assert len(scores) == len(readings)
        # when a score was made is its Kafka timestamp; an alert also says so in a header
        assert {m.headers() for m in scores} == {None}
        assert all(m.timestamp()[0] == TIMESTAMP_CREATE_TIME for m in scores)
        assert all(started_ms <= m.timestamp()[1] <= ended_ms for m in scores)
        for message in alert_messages:
            processed_ms = int(dict(message.headers() or [])["linewatch.processed_at_ms"])
            assert started_ms <= processed_ms <= ended_ms
        raised = [a for a in alerts if a["state"] == "raised"]
        assert "asset-004" in {a["asset"] for a in raised}, alerts
        assert all(a["asset"] == "asset-004" for a in raised), alerts
        assert len([a for a in raised if a["asset"] == "asset-004"]) == 1
        fault_start_ms = 1700000000000 + 120_000
        assert next(a for a in raised if a["asset"] == "asset-004")["first_ts"] >= fault_start_ms
        assert "ALERT RAISED  asset-004" in service.stdout
        group = config.read_text().split('group_id = "')[1].split('"')[0]
        assert (
            committed_lag(
                kafka_broker.bootstrap, group, topic_settings.readings, topic_settings.partitions
            )
            == 0
        )

    def test_scores_are_keyed_by_asset_and_deterministic(
        self, kafka_broker, topic_settings, tmp_path
    ):
        producer = Producer(kafka_broker.config)
        for ts in range(400):
            reading = Reading(f"press-{ts % 4}", 1_000 + ts, {"vib": 1.0 + (ts % 5) * 0.01})
            producer.produce(
                topic_settings.readings, key=reading.asset.encode(), value=encode(reading)
            )
        assert producer.flush(30) == 0

        runs = []
        for run in range(2):
            config = write_config(
                tmp_path / f"run{run}.toml", kafka_broker.bootstrap, topic_settings
            )
            topic = f"{topic_settings.scores}"
            service = ServiceProcess(config)
            try:
                service.metrics_url()
                scores = read_all(kafka_broker.bootstrap, topic, 400 * (run + 1))
            finally:
                assert service.stop() == 0, service.stderr
            runs.append(sorted(m.value() or b"" for m in scores[-400:]))
            assert all(orjson.loads(m.value() or b"")["asset"].encode() == m.key() for m in scores)
        assert runs[0] == runs[1]


class TestDeadLetters:
    def test_malformed_messages_are_dead_lettered_and_valid_ones_scored(
        self, kafka_broker, topic_settings, tmp_path
    ):
        bad = [
            b"{not json",
            b'{"asset": "press-1", "ts": 5}',
            b'{"asset": "press-1", "ts": 5, "values": {"vib": "loud"}}',
            b'{"asset": "press-1", "ts": 5, "values": {"vib": NaN}}',
            json.dumps(
                {"asset": "press-1", "ts": 5, "values": {"v": 1.0}, "pad": "x" * 70_000}
            ).encode(),
            b"\x00\x01\x02",
            b"[]",
        ]
        producer = Producer({**kafka_broker.config, "message.max.bytes": 2_000_000})
        valid = 0
        for i in range(300):
            producer.produce(
                topic_settings.readings,
                key=b"press-1",
                value=encode(Reading("press-1", 10 + i, {"vib": 1.0 + i % 3})),
            )
            valid += 1
            if i % 40 == 0:
                producer.produce(topic_settings.readings, key=b"press-1", value=bad[i // 40 % 7])
        producer.produce(topic_settings.readings, key=b"press-1", value=None)  # tombstone
        assert producer.flush(30) == 0
        bad_count = len(range(0, 300, 40)) + 1

        config = write_config(tmp_path / "linewatch.toml", kafka_broker.bootstrap, topic_settings)
        service = ServiceProcess(config)
        try:
            service.metrics_url()
            scores = read_all(kafka_broker.bootstrap, topic_settings.scores, valid)
            letters = read_all(kafka_broker.bootstrap, topic_settings.deadletter, bad_count)
            assert service.alive()
        finally:
            assert service.stop(signum=signal.SIGINT) == 0, service.stderr

        assert len(scores) == valid
        assert len(letters) == bad_count
        offsets = set()
        for letter in letters:
            headers = dict(letter.headers() or [])
            assert headers["error.reason"] in {
                b"malformed_json",
                b"missing_field",
                b"wrong_type",
                b"oversized",
            }
            assert headers["error.message"]
            assert headers["source.topic"] == topic_settings.readings.encode()
            offsets.add(int(headers["source.offset"]))
        assert len(offsets) == bad_count
        reasons = {dict(m.headers() or [])["error.reason"] for m in letters}
        assert {b"malformed_json", b"missing_field", b"wrong_type", b"oversized"} <= reasons
