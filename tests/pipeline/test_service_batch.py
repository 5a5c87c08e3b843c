"""Which way the service takes a consumed batch: as columns (``_plain``) or message by
message (``_process_mixed``), and what each gives. No broker: the clients are never started."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from confluent_kafka import KafkaError
from prometheus_client import CollectorRegistry

from pipeline import app
from pipeline.app import Service
from pipeline.messages import Reading, encode
from pipeline.metrics import ServiceMetrics
from pipeline.settings import Settings
from tests.pipeline.fake_message import FakeMessage
from tests.pipeline.test_outcomes import Recording


def reading(ts: int, partition: int | None, offset: int) -> FakeMessage:
    value = encode(Reading("press-1", ts, {"temp_c": 40.0}))
    return FakeMessage(value, b"press-1", partition, offset)


@pytest.fixture
def service(monkeypatch) -> Iterator[tuple[Service, Recording]]:
    """A service whose partitions 0 and 1 are assigned, its outputs recorded."""
    monkeypatch.setattr(app, "tune_collector", lambda: None)  # process-wide: not in tests
    monkeypatch.setattr(app, "freeze_startup_heap", lambda: None)
    monkeypatch.delenv("LINEWATCH_KAFKA", raising=False)
    settings = Settings.load(
        None, bootstrap_servers="127.0.0.1:1", serve={"processing": "at_least_once"}
    )
    service = Service(settings, ServiceMetrics(CollectorRegistry()))
    service._states.restore([0, 1])
    service._emitter.outputs = recording = Recording()
    yield service, recording
    service._cycle.commits.close()
    service._consumer.close()
    service._outputs.close()


class TestBatchSelection:
    def test_readings_of_assigned_partitions_go_as_columns(self, service) -> None:
        svc, recording = service
        batch = [reading(1, 0, 10), reading(2, 1, 4)]
        assert svc._plain(batch) is not None
        svc._process_batch(batch)
        assert [record[0] for record in recording.records] == ["sensor.scores"] * 2
        assert svc._positions.readings == {0: 11, 1: 5}

    def test_errors_and_revoked_partitions_take_the_mixed_way(self, service) -> None:
        svc, recording = service
        batch = [
            reading(1, 0, 10),
            FakeMessage(None, None, 0, 11, KafkaError(KafkaError._TRANSPORT)),  # logged, skipped
            reading(2, 2, 7),  # partition 2 was revoked: its new owner processes it
            reading(3, None, 12),  # no partition: taken as 0
        ]
        assert svc._plain(batch) is None
        assert svc._plain([reading(1, 0, 10), reading(2, 2, 7)]) is None  # revoked only
        svc._process_batch(batch)
        scores = [record for record in recording.records if record[0] == "sensor.scores"]
        assert [record[1] for record in scores] == [b"press-1", b"press-1"]
        assert len(recording.records) == 2  # nothing of partition 2, no dead letter
        assert svc._positions.readings == {0: 13}
        assert svc._cycle.pending == 2
