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


class OpcuaServer:
    """The asyncua test server (tests/integration/opcua_server.py) in a child process."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port("127.0.0.1")
        self.endpoint = f"opc.tcp://127.0.0.1:{self.port}/linewatch/"
        self._out = directory / "opcua-server.out"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, first_speed: int = 1000) -> None:
        """Start serving; Pump1.Speed counts up from ``first_speed``."""
        with self._out.open("w") as handle:
            self._process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.integration.opcua_server",
                    str(self.port),
                    str(first_speed),
                ],
                stdout=handle,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while "ready" not in self._out.read_text():
            assert self._process.poll() is None, self._out.read_text()
            assert time.monotonic() < deadline, self._out.read_text()
            time.sleep(0.1)

    def stop(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None


@pytest.fixture
def opcua_server(tmp_path: Path) -> Iterator[OpcuaServer]:
    server = OpcuaServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def start_bridge(tmp_path, kafka_broker, topic_settings, endpoint, mapping_text) -> BridgeProcess:
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(mapping_text)
    config = write_config(tmp_path / "bridge.toml", kafka_broker.bootstrap, topic_settings)
    bridge = BridgeProcess(
        tmp_path,
        "opcua",
        "--config",
        str(config),
        "--endpoint",
        endpoint,
        "--mapping",
        str(mapping),
        "--publishing-interval",
        "50",
        "--metrics-port",
        "0",
    )
    bridge.wait_for('"opcua subscribed"')
    return bridge


class TestOpcuaBridge:
    def test_changing_variables_arrive_as_readings_and_unreadable_node_is_reported(
        self, tmp_path, kafka_broker, topic_settings, opcua_server
    ):
        bridge = start_bridge(
            tmp_path, kafka_broker, topic_settings, opcua_server.endpoint, MAPPING
        )
        try:
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

    def test_bridge_reconnects_and_resubscribes_after_the_server_restarts(
        self, tmp_path, kafka_broker, topic_settings, opcua_server
    ):
        mapping = '"ns=2;s=Pump1.Speed": {asset: pump-01, channel: speed_rpm}'
        bridge = start_bridge(
            tmp_path, kafka_broker, topic_settings, opcua_server.endpoint, f"nodes: {{{mapping}}}"
        )
        try:
            before = len(read_all(kafka_broker.bootstrap, topic_settings.readings, 5, 30))
            opcua_server.stop()
            # The new server counts from a million, so its values cannot be mistaken for the
            # old server's, however long the bridge takes to come back (asyncua's back-off
            # reached 8 s and one reconnect attempt timed out in a loaded CI run).
            opcua_server.start(first_speed=1_000_000)
            deadline = time.monotonic() + 90
            from_restarted: list[float] = []
            while len(from_restarted) < 5:
                assert time.monotonic() < deadline, bridge.stderr
                messages = read_all(kafka_broker.bootstrap, topic_settings.readings, before + 5, 5)
                speeds = [decode_reading(m.value()).values["speed_rpm"] for m in messages]
                from_restarted = [s for s in speeds if s >= 1_000_000]
            assert from_restarted == sorted(from_restarted)
        finally:
            assert bridge.stop() == 0, bridge.stderr

    def test_bridge_exits_with_a_clear_error_when_no_mapped_node_can_be_read(
        self, tmp_path, kafka_broker, topic_settings, opcua_server
    ):
        mapping = tmp_path / "mapping.toml"
        mapping.write_text('[nodes."ns=2;s=Nope"]\nasset = "a"\nchannel = "c"\n')
        config = write_config(tmp_path / "bridge.toml", kafka_broker.bootstrap, topic_settings)
        bridge = BridgeProcess(
            tmp_path,
            "opcua",
            "--config",
            str(config),
            "--endpoint",
            opcua_server.endpoint,
            "--mapping",
            str(mapping),
        )
        assert bridge.wait() == 1, bridge.stderr
        assert "opcua node ns=2;s=Nope cannot be read: BadNodeIdUnknown" in bridge.stderr
        assert "Error: none of the 1 mapped nodes can be read" in bridge.stderr
