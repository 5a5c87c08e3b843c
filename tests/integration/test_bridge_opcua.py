"""``linewatch bridge opcua`` against an asyncua test server and the real local Kafka broker."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.broker.process import free_port
from pipeline.messages import decode_reading
from tests.integration.bridge_process import BridgeProcess
from tests.integration.kafka_io import read_all, write_config

pytestmark = pytest.mark.integration

MAPPING = """\
nodes:
  "ns=2;s=Pump1.Temperature": {asset: pump-01, channel: bearing_temp_c, line: l1}
  "ns=2;s=Pump1.Speed": {asset: pump-01, channel: speed_rpm, line: l1}
  "ns=2;s=Press7.Pressure": {asset: press-07, channel: pressure_bar}
  "ns=2;s=Press7.Mode": {asset: press-07, channel: mode}
  "ns=2;s=Press7.Missing": {asset: press-07, channel: missing}
"""

SENT = "linewatch_producer_readings_sent_total{producer=opcua}"


@pytest.fixture
def opcua_endpoint(tmp_path: Path) -> Iterator[str]:
    """The asyncua test server (tests/integration/opcua_server.py) in a child process."""
    port = free_port("127.0.0.1")
    out = tmp_path / "opcua-server.out"
    with out.open("w") as handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.opcua_server", str(port)],
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while "ready" not in out.read_text():
            assert process.poll() is None and time.monotonic() < deadline, out.read_text()
            time.sleep(0.1)
        yield f"opc.tcp://127.0.0.1:{port}/linewatch/"
    finally:
        process.kill()
        process.wait()


class TestOpcuaBridge:
    def test_changing_variables_arrive_as_readings_and_unreadable_node_is_reported(
        self, tmp_path, kafka_broker, topic_settings, opcua_endpoint
    ):
        mapping = tmp_path / "mapping.yaml"
        mapping.write_text(MAPPING)
        config = write_config(tmp_path / "bridge.toml", kafka_broker.bootstrap, topic_settings)
        bridge = BridgeProcess(
            tmp_path,
            "opcua",
            "--config",
            str(config),
            "--endpoint",
            opcua_endpoint,
            "--mapping",
            str(mapping),
            "--publishing-interval",
            "50",
            "--metrics-port",
            "0",
        )
        try:
            bridge.wait_for('"opcua subscribed"')
            messages = read_all(kafka_broker.bootstrap, topic_settings.readings, 30, timeout_s=30)
            letters = read_all(kafka_broker.bootstrap, topic_settings.deadletter, 1, timeout_s=30)
            deadline = time.monotonic() + 10  # delivery reports are counted as they are served
            while (metrics := bridge.metrics())[SENT] < len(messages):
                assert time.monotonic() < deadline, metrics
                time.sleep(0.2)
        finally:
            assert bridge.stop() == 0, bridge.stderr
        assert "opcua node ns=2;s=Press7.Missing cannot be read: BadNodeIdUnknown" in bridge.stderr

        series: dict[tuple[str, str, str | None], list[float]] = {}
        last_ts: dict[str, int] = {}
        for message in messages:
            reading = decode_reading(message.value())
            assert message.key() == reading.asset.encode()
            assert reading.ts >= last_ts.get(reading.asset, 0)  # one partition per asset
            last_ts[reading.asset] = reading.ts
            ((channel, value),) = reading.values.items()
            series.setdefault((reading.asset, channel, reading.line), []).append(value)
        assert set(series) == {
            ("pump-01", "bearing_temp_c", "l1"),
            ("pump-01", "speed_rpm", "l1"),
            ("press-07", "pressure_bar", None),
        }
        temperatures = series[("pump-01", "bearing_temp_c", "l1")]
        speeds = series[("pump-01", "speed_rpm", "l1")]
        pressures = series[("press-07", "pressure_bar", None)]
        assert temperatures == sorted(temperatures) and len(set(temperatures)) > 1
        assert all((t - 20.0) * 2 == int((t - 20.0) * 2) for t in temperatures)
        assert all(s == int(s) and s >= 1000 for s in speeds)
        assert pressures == sorted(pressures, reverse=True)

        headers = dict(letters[0].headers() or [])
        assert headers["error.reason"] == b"wrong_type"
        assert headers["source.topic"] == b"ns=2;s=Press7.Mode"
        assert letters[0].key() == b"press-07"
        assert metrics["linewatch_producer_delivery_errors_total{producer=opcua}"] == 0
