"""The README's run command: `linewatch demo` brings up everything and prints an alert."""

from __future__ import annotations

import pytest

from pipeline.broker.process import free_port
from tests.integration.kafka_io import linewatch

pytestmark = pytest.mark.integration


def test_demo_starts_everything_and_prints_an_alert_for_the_faulty_asset(tmp_path):
    port = free_port("127.0.0.1")
    result = linewatch(
        "demo",
        "--port", str(port),
        "--data-dir", str(tmp_path / "broker"),
        "--metrics-port", "0",
        "--rate", "500",
        "--fault", "asset-003:bearing_wear@25",
        "--duration", "40",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "metrics at http://127.0.0.1:" in result.stderr
    raised = [line for line in result.stdout.splitlines() if line.startswith("ALERT RAISED")]
    assert raised and all(" asset-003 " in line for line in raised), result.stdout
    assert "simulate: 20000 readings" in result.stderr
    assert not (tmp_path / "broker" / "broker.pid").exists()  # the demo stopped its broker
