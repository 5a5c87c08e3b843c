"""``linewatch bridge mqtt`` against a real Mosquitto broker and the real local Kafka broker."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from pipeline.broker.process import free_port
from pipeline.messages import decode_reading
from tests.integration.bridge_process import BridgeProcess
from tests.integration.kafka_io import read_all, write_config
from tests.integration.mosquitto import Mosquitto

pytestmark = pytest.mark.integration


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    broker = Mosquitto(tmp_path)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def publish(broker: Mosquitto, messages: list[tuple[str, bytes]]) -> None:
    """Publish with QoS 1 and wait until the broker acknowledged each message."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-{uuid.uuid4().hex}")
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    try:
        for topic, payload in messages:
            client.publish(topic, payload, qos=1).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


def start_bridge(
    tmp_path, kafka_broker, topics, broker, template, *extra, client_id=None, env=None
) -> BridgeProcess:
    config = write_config(tmp_path / "bridge.toml", kafka_broker.bootstrap, topics)
    bridge = BridgeProcess(
        tmp_path,
        "mqtt",
        "--config",
        str(config),
        "--port",
        str(broker.port),
        "--topic",
        template,
        "--client-id",
        client_id or f"bridge-{uuid.uuid4().hex}",
        "--reconnect-max-delay",
        "1",
        *extra,
        env=env,
    )
    bridge.wait_for('"mqtt connected"')
    return bridge


def readings(bootstrap: str, topic: str, expected: int) -> list[tuple[str, str | None, dict]]:
    messages = read_all(bootstrap, topic, expected, timeout_s=30)
    found = []
    for message in messages:
        reading = decode_reading(message.value())
        assert message.key() == reading.asset.encode()
        found.append((reading.asset, reading.line, reading.values))
    return sorted(found, key=repr)


class TestMqttBridge:
    def test_numeric_channel_messages_arrive_as_readings_malformed_as_dead_letters(
        self, tmp_path, kafka_broker, topic_settings, mosquitto
    ):
        root = f"plant-{uuid.uuid4().hex[:8]}"
        bridge = start_bridge(
            tmp_path,
            kafka_broker,
            topic_settings,
            mosquitto,
            root + "/{line}/{asset}/{channel}",
            "--metrics-port",
            "0",
        )
        try:
            publish(
                mosquitto,
                [
                    (f"{root}/l1/pump-01/bearing_temp_c", b"71.5"),
                    (f"{root}/l1/pump-01/vibration_rms_mm_s", b" 2.25\n"),
                    (f"{root}/l2/press-07/pressure_bar", b"-3e2"),
                    (f"{root}/l1/pump-01/bearing_temp_c", b"hot"),
                    (f"{root}/l1/pump-01/bearing_temp_c", b"NaN"),
                ],
            )
            found = readings(kafka_broker.bootstrap, topic_settings.readings, 3)
            letters = read_all(kafka_broker.bootstrap, topic_settings.deadletter, 2, timeout_s=30)
            bridge.wait_for('"dead letter"', count=2)
            metrics = bridge.metrics()
        finally:
            assert bridge.stop() == 0, bridge.stderr
        assert found == [
            ("press-07", "l2", {"pressure_bar": -300.0}),
            ("pump-01", "l1", {"bearing_temp_c": 71.5}),
            ("pump-01", "l1", {"vibration_rms_mm_s": 2.25}),
        ]
        headers = sorted(
            (
                (dict(letter.headers() or []), letter.value() or b"", letter.key())
                for letter in letters
            ),
            key=lambda item: item[1],
        )
        assert [(h["error.reason"], value, key) for h, value, key in headers] == [
            (b"non_finite", b"NaN", b"pump-01"),
            (b"wrong_type", b"hot", b"pump-01"),
        ]
        for h, _, _ in headers:
            assert h["error.class"] == b"DecodeError"
            assert h["source.topic"] == f"{root}/l1/pump-01/bearing_temp_c".encode()
            assert h["source.system"] == b"mqtt"
            assert h["error.message"]
        assert metrics["linewatch_producer_readings_sent_total{producer=mqtt}"] == 3
        assert metrics["linewatch_producer_delivery_errors_total{producer=mqtt}"] == 0
        assert metrics["linewatch_producer_deadletters_total{producer=mqtt,reason=wrong_type}"] == 1

    def test_json_payload_per_asset_arrives_with_its_timestamp(
        self, tmp_path, kafka_broker, topic_settings, mosquitto
    ):
        root = f"plant-{uuid.uuid4().hex[:8]}"
        bridge = start_bridge(
            tmp_path, kafka_broker, topic_settings, mosquitto, root + "/{line}/{asset}"
        )
        good = {"ts": "2024-01-01T00:00:00Z", "values": {"temp_c": 40, "current_a": 12.5}}
        try:
            publish(
                mosquitto,
                [
                    (f"{root}/l1/cnc-02", orjson.dumps(good)),
                    (f"{root}/l1/cnc-03", orjson.dumps({"ts": 1000, "values": {"rpm": 900}})),
                    (f"{root}/l1/cnc-02", b"{not json"),
                    (f"{root}/l1/cnc-02", orjson.dumps({"ts": 1, "values": {"rpm": "fast"}})),
                    (f"{root}/l1/cnc-02", orjson.dumps({"ts": 1})),
                ],
            )
            messages = read_all(kafka_broker.bootstrap, topic_settings.readings, 2, timeout_s=30)
            letters = read_all(kafka_broker.bootstrap, topic_settings.deadletter, 3, timeout_s=30)
        finally:
            assert bridge.stop() == 0, bridge.stderr
        decoded = sorted((decode_reading(m.value()) for m in messages), key=lambda r: r.asset)
        assert [(r.asset, r.ts, r.values, r.line) for r in decoded] == [
            ("cnc-02", 1704067200000, {"temp_c": 40.0, "current_a": 12.5}, "l1"),
            ("cnc-03", 1000, {"rpm": 900.0}, "l1"),
        ]
        reasons = sorted(dict(letter.headers() or [])["error.reason"] for letter in letters)
        assert reasons == [b"malformed_json", b"missing_field", b"wrong_type"]

    def test_messages_published_after_a_mosquitto_restart_still_arrive(
        self, tmp_path, kafka_broker, topic_settings, mosquitto
    ):
        root = f"plant-{uuid.uuid4().hex[:8]}"
        bridge = start_bridge(
            tmp_path,
            kafka_broker,
            topic_settings,
            mosquitto,
            root + "/{line}/{asset}/{channel}",
        )
        try:
            publish(mosquitto, [(f"{root}/l1/fan-01/speed_rpm", b"1.0")])
            assert len(readings(kafka_broker.bootstrap, topic_settings.readings, 1)) == 1
            mosquitto.stop()
            bridge.wait_for('"mqtt disconnected; reconnecting"')
            mosquitto.start()
            # Published at once, before the bridge is back: they wait in its persistent session.
            after = [(f"{root}/l1/fan-01/speed_rpm", f"{n}".encode()) for n in range(2, 12)]
            publish(mosquitto, after)
            bridge.wait_for('"mqtt connected"', count=2)
            found = readings(kafka_broker.bootstrap, topic_settings.readings, 11)
        finally:
            assert bridge.stop() == 0, bridge.stderr
        values = sorted(values["speed_rpm"] for _, _, values in found)
        assert values == [float(n) for n in range(1, 12)]
        # Mosquitto kept the bridge's session (subscription and queue) across its restart.
        assert '"session_present":true' in bridge.stderr.split('"mqtt connected"')[2]

    def test_messages_kafka_did_not_acknowledge_are_redelivered_to_the_next_bridge(
        self, tmp_path, kafka_broker, topic_settings, mosquitto
    ):
        root = f"plant-{uuid.uuid4().hex[:8]}"
        template = root + "/{line}/{asset}/{channel}"
        client_id = f"bridge-{uuid.uuid4().hex}"
        no_kafka = f"127.0.0.1:{free_port('127.0.0.1')}"
        failing = start_bridge(
            tmp_path,
            kafka_broker,
            topic_settings,
            mosquitto,
            template,
            "--bootstrap-servers",
            no_kafka,
            client_id=client_id,
            env={"LINEWATCH_KAFKA": '{"message.timeout.ms": "1500"}'},
        )
        publish(mosquitto, [(f"{root}/l1/fan-01/speed_rpm", f"{n}".encode()) for n in range(5)])
        assert failing.wait() == 1, failing.stderr
        assert "were not delivered to Kafka" in failing.stderr
        assert "broker redelivers them" in failing.stderr

        bridge = start_bridge(
            tmp_path, kafka_broker, topic_settings, mosquitto, template, client_id=client_id
        )
        try:
            found = readings(kafka_broker.bootstrap, topic_settings.readings, 5)
        finally:
            assert bridge.stop() == 0, bridge.stderr
        assert sorted(values["speed_rpm"] for _, _, values in found) == [0.0, 1.0, 2.0, 3.0, 4.0]
