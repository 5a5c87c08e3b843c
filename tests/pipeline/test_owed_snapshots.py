"""A checkpoint's snapshots taken late: each before anything changes its model, as of then."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from pipeline.metrics import ServiceMetrics
from pipeline.partitions import PartitionStates
from pipeline.settings import Settings


def _states(assets: dict[str, object]) -> PartitionStates:
    settings = Settings.load(None, state={"hmac_key": "k"})
    states = PartitionStates(settings, assets, ServiceMetrics(CollectorRegistry()))
    for name in assets:
        states.touch(name, 1)
    return states


def _restored(states: PartitionStates) -> dict[str, object]:
    assert states.codec is not None
    return {a: states.codec.decode(a, v) for a, _, v in states.seal(states.taken())}


def test_owed_snapshots_are_the_state_as_of_the_checkpoint() -> None:
    assets: dict[str, object] = {"a": [1], "b": [1], "c": [1]}
    states = _states(assets)
    states.owe()
    states.clear_touched()  # the service forgets what changed: it is owed now
    states.take([b"a", b"unknown"])  # a's readings are about to be processed
    assets["a"] = [2]
    states.touch("a", 1)
    assert states.owing
    with pytest.raises(RuntimeError, match="still owed"):
        states.taken()
    assert not states.take_some(1) and states.take_some(None)
    assert _restored(states) == {"a": [1], "b": [1], "c": [1]}
    states.owe()  # the next checkpoint owes only what changed since
    assert states.take_some(None) and _restored(states) == {"a": [2]}


def test_a_message_without_a_key_takes_every_owed_snapshot_first() -> None:
    assets: dict[str, object] = {"a": [1], "b": [1]}
    states = _states(assets)
    states.owe()
    states.take([b"a", None])
    assert not states.owing
    assert _restored(states) == {"a": [1], "b": [1]}


def test_an_abandoned_checkpoint_owes_nothing() -> None:
    states = _states({"a": [1]})
    states.owe()
    states.cancel()
    assert not states.owing and states.taken() == []


def test_each_snapshot_taken_is_timed_once() -> None:
    registry = CollectorRegistry()
    settings = Settings.load(None, state={"hmac_key": "k"})
    states = PartitionStates(settings, {"a": [1], "b": [1], "c": [1]}, ServiceMetrics(registry))
    for name in ("a", "b", "c"):
        states.touch(name, 1)
    states.owe()
    states.take([b"a", b"b", b"unknown"])
    states.take_some(0)  # rounds with nothing to take
    states.take_some(0)
    states.take_some(None)
    assert registry.get_sample_value("linewatch_snapshot_seconds_count") == 3
    sealed = states.seal(states.taken())
    assert registry.get_sample_value("linewatch_snapshot_bytes_count") == 3
    assert registry.get_sample_value("linewatch_snapshot_bytes_sum") == sum(
        len(value) for _, _, value in sealed
    )


def test_snapshots_owed_with_a_sink_are_sealed_and_sent_as_they_are_taken() -> None:
    assets: dict[str, object] = {"a": [1], "b": [1], "c": [1]}
    states = _states(assets)
    sent: list[tuple[str, int, bytes]] = []
    states.owe(lambda asset, partition, value: sent.append((asset, partition, value)))
    states.clear_touched()
    states.take([b"b"])
    assert [asset for asset, _, _ in sent] == ["b"]  # before b's readings change it
    assets["b"] = [2]
    states.touch("b", 1)
    assert states.take_some(None) and states.taken() == []
    assert states.codec is not None
    assert {a: (p, states.codec.decode(a, v)) for a, p, v in sent} == {
        "a": (1, [1]),
        "b": (1, [1]),
        "c": (1, [1]),
    }
    states.owe()  # without a sink, the next checkpoint keeps them for taken() again
    assert states.take_some(None) and _restored(states) == {"b": [2]}


def test_a_time_budget_takes_at_least_one_snapshot_a_round() -> None:
    states = _states({"a": [1], "b": [1], "c": [1]})
    states.owe()
    assert not states.take_some(None, budget_s=0.0)  # one taken: the budget is spent
    assert not states.take_some(None, budget_s=0.0)
    assert states.take_some(None, budget_s=0.0)
    assert len(states.taken()) == 3
