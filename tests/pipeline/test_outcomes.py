"""A batch's columns give what its Outcome objects give: messages, alerts, metrics, touched."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from pipeline.asset_metrics import AssetSeries
from pipeline.background import BackgroundCommit
from pipeline.emit import Emitter
from pipeline.messages import encode
from pipeline.metrics import ServiceMetrics
from pipeline.outcomes import Outcomes
from pipeline.outputs import Headers, Output
from pipeline.processor import Outcome, Processor, Source
from pipeline.settings import Settings
from tests.pipeline.test_fleet import CONFIGS, settings_for, stream

Record = tuple[str, bytes | None, bytes | None]


class Recording:
    """Outputs that remember what was produced, per topic, in order."""

    def __init__(self) -> None:
        self.records: list[Record] = []

    def produce(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Headers | None,
        partition: int,
        timestamp: int = 0,
    ) -> None:
        if topic == "sensor.scores":  # held during a commit: its timestamp says when
            assert headers is None
        else:
            assert headers and headers[0][0] in ("linewatch.processed_at_ms", "error.class")
        self.records.append((topic, key, value))

    def produce_many(
        self, topic: str, records: Iterable[tuple[bytes | None, bytes]], headers: Headers | None
    ) -> None:
        assert headers is None  # a score's Kafka timestamp is when it was made
        self.records += [(topic, key, value) for key, value in records]

    def produce_all(self, outputs: Sequence[Output]) -> None:
        for output in outputs:
            self.produce(*output)

    def commit(self, offsets: Any, consumer: Any, metadata: object = None) -> None:
        raise AssertionError("not in these tests")

    def abort(self) -> None:
        raise AssertionError("not in these tests")

    def close(self) -> None:
        pass


def batches(settings: Settings, size: int = 40, keyed: bool = True) -> list[Any]:
    """``(messages, Outcomes)`` of a stream in batches: several rounds each, dead letters,
    alerts (from the faults), assets leaving their fleet."""
    processor = Processor(settings)
    values = stream(1500, seed=3)
    out = []
    for start in range(0, len(values), size):
        messages = [
            (value, Source("r", start % 3, start + i, value[10:17] if keyed else None))
            for i, value in enumerate(values[start : start + size])
        ]
        out.append((messages, processor.process_batch(messages)))
    return out


def expected_records(
    settings: Settings, outcomes: Sequence[Outcome], messages: list[Any]
) -> list[Record]:
    """What emitting one Outcome object at a time produces (the emitter before columns)."""
    topics, records = settings.topics, []
    scores: list[Record] = []
    for outcome, (value, source) in zip(outcomes, messages, strict=True):
        if outcome.score is None:
            assert outcome.dead_letter is not None
            records.append((topics.deadletter, source.key, value))
            continue
        key = source.key or outcome.score.asset.encode()
        scores.append((topics.scores, key, encode(outcome.score)))
        if outcome.alert is not None:
            records.append((topics.alerts, key, encode(outcome.alert)))
    return records + scores


@pytest.mark.parametrize("config", CONFIGS)
def test_columns_encode_as_the_outcomes_do(config: dict[str, Any]) -> None:
    rounds = alerts = 0
    for _, outcomes in batches(settings_for(config)):
        assert isinstance(outcomes, Outcomes)
        rounds += len(outcomes.rounds)
        encoded = outcomes.encoded_scores()
        found = [(p, a) for p, a, _ in outcomes.alerts()]
        ts, last = outcomes.latest()
        some = set(list(last)[::3]) | {"asset-none"}
        tracked = outcomes.latest(some)  # the metrics' tracked assets only
        touched = outcomes.touched(list(range(len(outcomes))))
        made = list(outcomes)  # the Outcome objects, from here on
        assert not outcomes.rounds
        assert encoded == [encode(o.score) if o.score else None for o in made]
        assert found == [(p, o.alert) for p, o in enumerate(made) if o.alert is not None]
        assert sorted(ts) == sorted(o.score.ts for o in made if o.score)
        latest = {o.score.asset: (o.score, o.reading) for o in made if o.score and o.reading}
        assert last == {a: (s.score, s.threshold, r.values) for a, (s, r) in latest.items()}
        assert touched == {o.score.asset: p for p, o in enumerate(made) if o.score}
        assert tracked == (ts, {a: v for a, v in last.items() if a in some})
        alerts += len(found)
    assert rounds > 50 and alerts > 0


@pytest.mark.parametrize("keyed", [True, False])
def test_emitter_produces_what_one_outcome_at_a_time_did(keyed: bool) -> None:
    settings = settings_for({"model": {"kind": "mahalanobis"}})
    outputs = Recording()
    registry, expected_registry = CollectorRegistry(), CollectorRegistry()
    metrics, expected_metrics = ServiceMetrics(registry), ServiceMetrics(expected_registry)
    emitter = Emitter(
        settings.topics,
        outputs,
        BackgroundCommit(10_000),
        metrics,
        None,
        max_value_bytes=settings.serve.max_message_bytes,
    )
    letters = 0
    for messages, outcomes in batches(settings, keyed=keyed):
        del outputs.records[:]
        columns = Outcomes(len(outcomes))
        columns.items, columns.rounds = list(outcomes.items), list(outcomes.rounds)
        touched = emitter.batch(columns, messages)
        made = list(outcomes)
        expected = expected_records(settings, made, messages)
        assert by_topic(outputs.records) == by_topic(expected)  # (topics are independent)
        assert touched == {
            o.score.asset: source.partition
            for o, (_, source) in zip(made, messages, strict=True)
            if o.score is not None
        }
        expected_metrics.observe_outcomes(made, now_s=0.0)
        letters += sum(o.dead_letter is not None for o in made)
    assert letters > 0
    assert samples(registry, lag=False) == samples(expected_registry, lag=False)


class HoldingOneByOne(BackgroundCommit):
    """Holds a batch's scores with :meth:`hold`, one record at a time (before ``hold_many``)."""

    def hold_many(
        self, topic: str, records: Iterable[tuple[bytes | None, bytes]], headers: Headers | None
    ) -> None:
        for key, value in records:
            self.hold(topic, key, value, headers, -1)


def test_outputs_held_during_a_commit_are_what_holding_one_by_one_held(monkeypatch) -> None:
    settings = settings_for({"model": {"kind": "mahalanobis"}})
    made = batches(settings, size=150)
    monkeypatch.setattr("time.time", lambda: 1_700_000_000.5)
    held = []
    for commits in (BackgroundCommit(10_000), HoldingOneByOne(10_000)):
        emitter = Emitter(
            settings.topics,
            Recording(),
            commits,
            ServiceMetrics(CollectorRegistry()),
            None,
            max_value_bytes=settings.serve.max_message_bytes,
        )
        commits.begin()  # a checkpoint under way: every output is held
        for messages, outcomes in made:
            emitter.batch(outcomes, messages)
        held.append(commits.take_held())
        commits.close()
    assert held[0] == held[1]
    topics = settings.topics
    assert {h.topic for h in held[0]} == {topics.scores, topics.alerts, topics.deadletter}
    assert {(h.partition, h.timestamp) for h in held[0]} == {(-1, 1_700_000_000_500)}


def test_metrics_of_columns_and_of_outcome_objects_agree() -> None:
    settings = settings_for({"model": {"kind": "zscore"}, "alerts": {"raise_after": 1}})
    registries = CollectorRegistry(), CollectorRegistry()
    columns, objects = ServiceMetrics(registries[0]), ServiceMetrics(registries[1])
    for _, outcomes in batches(settings, size=64):
        copy = Outcomes(len(outcomes))
        copy.items, copy.rounds = list(outcomes.items), list(outcomes.rounds)
        columns.observe_outcomes(copy, now_s=2e6)
        objects.observe_outcomes(list(outcomes), now_s=2e6)
    assert samples(registries[0]) == samples(registries[1])
    raised = ("linewatch_alerts_total", (("severity", "low"), ("state", "raised")))
    assert samples(registries[0])[raised] > 0


def test_a_full_asset_series_records_what_admitting_asset_by_asset_did(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With every series taken, only the tracked assets are looked up in the batch."""
    settings = settings_for({"model": {"kind": "zscore"}, "alerts": {"raise_after": 1}})
    registries = CollectorRegistry(), CollectorRegistry()
    lookup, admit = ServiceMetrics(registries[0], 3), ServiceMetrics(registries[1], 3)
    for _, outcomes in batches(settings, size=64):
        copy = Outcomes(len(outcomes))
        copy.items, copy.rounds = list(outcomes.items), list(outcomes.rounds)
        lookup.observe_outcomes(outcomes, now_s=2e6)
        with monkeypatch.context() as patched:
            patched.setattr(AssetSeries, "full", property(lambda self: False))
            admit.observe_outcomes(copy, now_s=2e6)
    assert lookup.assets.full and lookup.assets.tracked == admit.assets.tracked
    assert samples(registries[0]) == samples(registries[1])
    assert ("linewatch_asset_score", (("asset", lookup.assets.tracked[0]),)) in samples(
        registries[0]
    )


def test_metrics_of_columns_count_what_the_outcome_objects_hold() -> None:
    """Counted from the Outcome objects themselves, not through observe_outcomes."""
    settings = settings_for({"model": {"kind": "zscore"}, "alerts": {"raise_after": 1}})
    registry = CollectorRegistry()
    metrics = ServiceMetrics(registry)
    expected: dict[Any, float] = {}

    def count(key: Any) -> None:
        expected[key] = expected.get(key, 0) + 1

    for _, outcomes in batches(settings, size=64):
        for outcome in list(outcomes):
            if outcome.dead_letter is not None:
                count(("linewatch_deadletters_total", (("reason", outcome.dead_letter.reason),)))
                count(("linewatch_readings_total", (("outcome", "invalid"),)))
            if outcome.score is not None:
                count(("linewatch_scores_total", ()))
            if outcome.alert is not None:
                alert = outcome.alert
                count(
                    (
                        "linewatch_alerts_total",
                        (("severity", alert.severity), ("state", alert.state)),
                    )
                )
        metrics.observe_outcomes(outcomes, now_s=2e6)
    got = samples(registry)
    assert {key[0] for key in expected} == {
        "linewatch_deadletters_total",
        "linewatch_readings_total",
        "linewatch_scores_total",
        "linewatch_alerts_total",
    }
    assert all(got[key] == value for key, value in expected.items())


def by_topic(records: list[Record]) -> dict[str, list[Record]]:
    """The records of each topic, in the order they were produced."""
    out: dict[str, list[Record]] = {}
    for record in records:
        out.setdefault(record[0], []).append(record)
    return out


def samples(registry: CollectorRegistry, lag: bool = True) -> dict[Any, float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for metric in registry.collect()
        for s in metric.samples
        if not s.name.endswith("_created") and (lag or "event_lag" not in s.name)
    }
