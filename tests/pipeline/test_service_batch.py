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


class _ScriptedConsumer:
    """A consumer whose ``consume`` answers from a script and logs ``(size, timeout)``."""

    def __init__(self, *answers: list[FakeMessage]) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[int, float]] = []

    def consume(self, size: int, timeout: float) -> list[FakeMessage]:
        self.calls.append((size, timeout))
        return self.answers.pop(0) if self.answers else []

    def close(self) -> None:
        pass


class TestConsume:
    """A batch waits ``serve.batch_wait_ms`` to fill only after the service waited for its
    first message, and only while it holds fewer than ``serve.batch_min``; a service that is
    behind takes what is there."""

    def _consume(self, svc: Service, *answers: list[FakeMessage]) -> tuple[int, list]:
        real, svc._consumer = svc._consumer, _ScriptedConsumer(*answers)  # type: ignore[assignment]
        try:
            batch = svc._consume()
            return len(batch), svc._consumer.calls  # type: ignore[attr-defined]
        finally:
            svc._consumer = real

    @staticmethod
    def _readings(first: int, count: int) -> list[FakeMessage]:
        return [reading(t, 0, t) for t in range(first, first + count)]

    def test_an_idle_service_lets_a_small_batch_fill_after_the_first_message(self, service) -> None:
        svc, _ = service
        came, later = self._readings(2, 3), self._readings(5, 96)
        got, calls = self._consume(svc, [], [reading(1, 0, 1)], came, later, [])
        assert got == 100
        assert calls == [(500, 0), (1, 0.5), (499, 0), (96, 0.005), (400, 0)]

    def test_what_came_with_the_filling_messages_is_taken_too(self, service) -> None:
        svc, _ = service
        answers = [self._readings(2, 9), self._readings(11, 90), self._readings(101, 50)]
        got, calls = self._consume(svc, [], [reading(1, 0, 1)], *answers)
        assert got == 150
        assert calls == [(500, 0), (1, 0.5), (499, 0), (90, 0.005), (400, 0)]

    def test_nothing_more_arriving_in_the_wait_leaves_the_batch_as_it_came(self, service) -> None:
        svc, _ = service
        got, calls = self._consume(svc, [], [reading(1, 0, 1)], self._readings(2, 3))
        assert (got, calls) == (4, [(500, 0), (1, 0.5), (499, 0), (96, 0.005)])

    def test_a_batch_that_came_whole_is_not_held_for_the_next(self, service) -> None:
        svc, _ = service
        got, calls = self._consume(svc, [], [reading(1, 0, 1)], self._readings(2, 149))
        assert (got, calls) == (150, [(500, 0), (1, 0.5), (499, 0)])

    def test_without_a_wait_it_takes_only_what_came_with_the_first(self, service) -> None:
        svc, _ = service
        serve = svc.settings.serve.model_copy(update={"batch_wait_ms": 0.0})
        svc.settings = svc.settings.model_copy(update={"serve": serve})
        got, calls = self._consume(svc, [], [reading(1, 0, 1)], [reading(2, 0, 2)])
        assert (got, calls) == (2, [(500, 0), (1, 0.5), (499, 0)])

    def test_a_service_that_is_behind_never_waits(self, service) -> None:
        svc, _ = service
        got, calls = self._consume(svc, [reading(t, 0, t) for t in range(1, 11)])
        assert (got, calls) == (10, [(500, 0)])

    def test_nothing_arriving_is_an_empty_batch_without_a_second_wait(self, service) -> None:
        svc, _ = service
        got, calls = self._consume(svc)
        assert (got, calls) == (0, [(500, 0), (1, 0.5)])

    def test_no_wait_while_a_checkpoints_snapshots_are_owed(self, service, monkeypatch) -> None:
        svc, _ = service
        monkeypatch.setattr(type(svc._cycle), "taking", property(lambda self: True))
        got, calls = self._consume(svc, [], [reading(1, 0, 1)], [reading(2, 0, 2)])
        assert (got, calls) == (2, [(500, 0), (1, 0.0), (499, 0)])
