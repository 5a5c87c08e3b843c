"""The service's Kafka client settings (the clients themselves run in tests/integration)."""

from __future__ import annotations

from pipeline.auth import AuthWatch
from pipeline.clients import consumer_config, producer_config
from pipeline.settings import Settings


def test_the_outputs_producer_lingers_25_ms_by_default() -> None:
    config = producer_config(Settings.load(None), AuthWatch())
    assert config["linger.ms"] == 25
    assert config["bootstrap.servers"] == "localhost:9092"


def test_serve_linger_ms_sets_the_producer_not_the_consumer(monkeypatch) -> None:
    monkeypatch.setenv("LINEWATCH_KAFKA", '{"linger.ms": "7", "client.rack": "r1"}')
    settings = Settings.load(None, serve={"linger_ms": 40})
    auth = AuthWatch()
    producer = producer_config(settings, auth)
    assert (producer["linger.ms"], producer["client.rack"]) == (40, "r1")
    assert consumer_config(settings, "i", auth)["linger.ms"] == "7"  # the kafka table's
