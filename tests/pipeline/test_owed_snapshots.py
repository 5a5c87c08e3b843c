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
