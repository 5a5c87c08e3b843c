"""The service's Kafka client settings (the clients themselves run in tests/integration)."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline import outputs, outputs_at_least_once
from pipeline.auth import AuthWatch
from pipeline.clients import consumer_config, make_outputs, producer_config
from pipeline.settings import Settings


class ConfigOnly:
    """A producer that only keeps the configuration it was made with."""

    made: list[dict[str, Any]] = []

    def __init__(self, config: dict[str, Any]) -> None:
        ConfigOnly.made.append(config)

    def init_transactions(self, timeout: float) -> None:
        pass

    def flush(self, timeout: float) -> int:
        return 0

    def purge(self) -> None:
        pass


@pytest.fixture
def made(monkeypatch) -> list[dict[str, Any]]:
    """The configurations of the producers the outputs make (no client is started)."""
    monkeypatch.setattr(outputs, "Producer", ConfigOnly)
    monkeypatch.setattr(outputs_at_least_once, "Producer", ConfigOnly)
    monkeypatch.setattr(ConfigOnly, "made", [])
    return ConfigOnly.made


class TestProducerConfig:
    def test_the_outputs_producer_lingers_25_ms_by_default(self, monkeypatch) -> None:
        monkeypatch.delenv("LINEWATCH_BOOTSTRAP_SERVERS", raising=False)
        monkeypatch.delenv("LINEWATCH_KAFKA", raising=False)
        monkeypatch.delenv("LINEWATCH_SERVE__LINGER_MS", raising=False)
        config = producer_config(Settings.load(None), AuthWatch())
        assert config["linger.ms"] == 25
        assert config["bootstrap.servers"] == "localhost:9092"

    def test_serve_linger_ms_sets_the_producer_not_the_consumer(self, monkeypatch) -> None:
        monkeypatch.setenv("LINEWATCH_KAFKA", '{"linger.ms": "7", "client.rack": "r1"}')
        settings = Settings.load(None, serve={"linger_ms": 40})
        auth = AuthWatch()
        producer = producer_config(settings, auth)
        assert (producer["linger.ms"], producer["client.rack"]) == (40, "r1")
        assert consumer_config(settings, "i", auth)["linger.ms"] == "7"  # the kafka table's

    @pytest.mark.parametrize("processing", ["exactly_once", "at_least_once"])
    def test_the_producers_the_outputs_make_linger_serve_linger_ms(
        self, made, monkeypatch, processing
    ) -> None:
        # librdkafka's alias of linger.ms: whichever is set last wins (its debug=conf log)
        monkeypatch.setenv("LINEWATCH_KAFKA", '{"queue.buffering.max.ms": "500"}')
        settings = Settings.load(None, serve={"linger_ms": 40, "processing": processing})
        make_outputs(settings, "i", AuthWatch()).close()
        assert [config["linger.ms"] for config in made] == [40]
        assert "queue.buffering.max.ms" not in made[0]
        assert ("transactional.id" in made[0]) == (processing == "exactly_once")
