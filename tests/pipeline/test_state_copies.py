"""A checkpoint's snapshots pickled from copies, a few at a time, after the states changed.

The copies taken at the checkpoint (:mod:`pipeline.state_copies`) must give the snapshots that
pickling every state at the checkpoint gave: the same bytes, restoring to the same scores, and
committed with that checkpoint's offsets however much the live states changed meanwhile.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import pytest
from prometheus_client import CollectorRegistry

from pipeline.background import BackgroundCommit
from pipeline.checkpoints import CommitCycle
from pipeline.metrics import ServiceMetrics
from pipeline.outputs import Output
from pipeline.partitions import PartitionStates
from pipeline.processor import Processor, Source
from pipeline.settings import Settings
from pipeline.state_copies import copy_states
from producers.fleet import Encoded, Fleet

_ASSETS = 12


def _settings(**model: Any) -> Settings:
    """Pickled snapshots: the copies are for states without a compact form
    (``tests/pipeline/test_compact_states.py`` has those)."""
    return Settings.load(
        None,
        state={"hmac_key": "k", "compact_snapshots": False},
        serve={"processing": "exactly_once"},
        model=model,
        alerts={"warmup": 5, "adaptive": True},
    )


def _readings(ticks: int) -> list[list[tuple[bytes | None, Source]]]:
    """Batches of a simulated fleet's readings (one tick of every asset each), in order."""
    fleet = Fleet(_ASSETS, seed=4, interval_s=1.0, start_ts_ms=1_000_000)
    messages: list[tuple[bytes | None, Source]] = [
        (record.payload, Source("readings", 0, offset, record.asset.encode()))
        for offset, record in enumerate(fleet.encoded(ticks))
        if isinstance(record, Encoded)
    ]
    return [messages[i : i + _ASSETS] for i in range(0, len(messages), _ASSETS)]


def _scores(processor: Processor, batches: list[list[tuple[bytes | None, Source]]]) -> list[Any]:
    return [outcome.score for batch in batches for outcome in processor.process_batch(batch)]


def _states(settings: Settings, processor: Processor) -> PartitionStates:
    states = PartitionStates(settings, processor.assets, ServiceMetrics(CollectorRegistry()))
    states.touch_all({asset: 0 for asset in processor.assets})
    return states


def _restored(settings: Settings, snapshots: list[tuple[str, int, bytes]]) -> Processor:
    restored = Processor(settings)
    codec = _states(settings, restored).codec
    assert codec is not None
    restored.assets.update({a: codec.decode(a, value) for a, _, value in snapshots})
    return restored


@pytest.mark.parametrize(
    "model", [{}, {"calibration": "likelihood"}, {"stuck_after": None, "smooth": 1}]
)
def test_snapshots_spread_over_rounds_equal_those_taken_at_once(model: dict[str, Any]) -> None:
    settings = _settings(**model)
    batches = _readings(80)
    before, after = batches[:60], batches[60:]
    live, twin = Processor(settings), Processor(settings)
    _scores(live, before)
    _scores(twin, before)
    at_once = _states(settings, twin).snapshots()  # every state pickled at the checkpoint

    states, sent = _states(settings, live), []
    states.owe(lambda asset, partition, value: sent.append((asset, partition, value)))
    states.clear_touched()
    assert not states.owing  # every state was copied: readings need not wait for a pickle
    for batch in after[:10]:  # the live states change while the copies are pickled
        live.process_batch(batch)
        states.take_some(None, budget_s=0.0)  # one a round
    assert len(sent) == 10 and not states.take_some(1) and states.take_some(None)

    assert sorted(sent) == sorted(at_once)  # the same signed bytes
    assert _scores(_restored(settings, sent), after) == _scores(twin, after)


def test_a_state_that_cannot_be_copied_is_pickled_before_its_asset_changes() -> None:
    settings = _settings()
    processor = Processor(settings)
    _scores(processor, _readings(40))
    odd = processor.assets["asset-003"]
    odd.policy.extra = [1]  # type: ignore[attr-defined]  # a field the copies do not know
    owed = [(asset, 0, state) for asset, state in sorted(processor.assets.items())]
    copies, left = copy_states(owed)
    assert [asset for asset, _, _ in left] == ["asset-003"]
    assert len(copies) == _ASSETS - 1

    states = _states(settings, processor)
    states.owe()
    assert states.owing  # asset-003's readings wait for its snapshot (PartitionStates.take)
    states.take([None])  # a keyless message may change any live state, none of the copies
    assert not states.owing and len(states._copies) == _ASSETS - 1  # left to their rounds
    assert states.take_some(None)
    assert len(states.taken()) == _ASSETS


def test_a_copy_keeps_its_own_record_of_uncalibrated_rows() -> None:
    settings = _settings(calibration="likelihood")
    processor = Processor(settings)
    _scores(processor, _readings(40))
    owed = [(asset, 0, state) for asset, state in sorted(processor.assets.items())]
    copies, _ = copy_states(owed)
    shadow = copies[0][2].model.fleet  # type: ignore[attr-defined]
    live = processor.assets[copies[0][0]].model.fleet  # type: ignore[attr-defined]
    assert shadow._untailed is not live._untailed
    assert shadow._untailed == set(range(len(copies)))  # no TailCalibrator under "likelihood"


def test_copies_that_fail_leave_the_live_states_to_pickle(monkeypatch, caplog) -> None:
    settings = _settings()
    processor = Processor(settings)
    _scores(processor, _readings(10))

    def broken(owed: object) -> object:
        raise RuntimeError("a bug in the copies")

    monkeypatch.setattr("pipeline.state_copies.copy_states", broken)
    states = _states(settings, processor)
    states.owe()
    assert states.owing and "copying the states for a checkpoint failed" in caplog.text
    states.take([None])
    assert not states.owing
    assert sorted(asset for asset, *_ in states.taken()) == sorted(processor.assets)


class _Outputs:
    """Records what is produced into the transaction and what is committed with it."""

    def __init__(self) -> None:
        self.produced: list[tuple[str, bytes]] = []
        self.commits: list[tuple[object, list[tuple[str, bytes]]]] = []

    def produce(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Any,
        partition: int,
        timestamp: int = 0,
    ) -> None:
        assert key is not None and value is not None
        self.produced.append((key.decode(), value))

    def produce_many(
        self, topic: str, records: Sequence[tuple[bytes | None, bytes]], headers: Any
    ) -> None:
        for key, value in records:
            self.produce(topic, key, value, headers, -1)

    def produce_all(self, outputs: Sequence[Output]) -> None:
        for output in outputs:
            self.produce(*output)

    def commit(self, offsets: object, consumer: object, metadata: object) -> None:
        self.commits.append((offsets, list(self.produced)))
        self.produced = []


class _Positions:
    def __init__(self) -> None:
        self.offsets_now: list[object] = []

    def offsets(self) -> list[object]:
        return self.offsets_now

    def discard(self) -> None:
        pass


class _Consumer:
    def consumer_group_metadata(self) -> object:
        return object()


def test_a_checkpoint_commits_its_states_with_its_offsets_though_they_changed_since() -> None:
    settings = _settings()
    batches = _readings(80)
    live, twin = Processor(settings), Processor(settings)
    _scores(live, batches[:60])
    _scores(twin, batches[:60])
    states, positions, outputs = _states(settings, live), _Positions(), _Outputs()
    cycle = CommitCycle(
        settings,
        ServiceMetrics(CollectorRegistry()),
        states,
        cast(Any, positions),
        BackgroundCommit(max_held=10_000),
        outputs=lambda: cast(Any, outputs),
        consumer=lambda: cast(Any, _Consumer()),
        renew_outputs=lambda: None,
    )
    positions.offsets_now = ["offsets of checkpoint N"]
    cycle.pending = 60 * _ASSETS
    assert cycle.checkpoint(background=True) and cycle.taking
    positions.offsets_now = ["offsets after it"]
    for batch in batches[60:70]:  # the service goes on: its states change
        live.process_batch(batch)
        states.touch_all({asset: 0 for asset in live.assets})
        cycle.pending += len(batch)
        cycle.take_snapshots(None, budget_s=0.0)
    assert cycle.taking and not outputs.commits  # a snapshot a round: 10 of 12 so far
    cycle.take_snapshots(None, budget_s=0.0)
    cycle.take_snapshots(None, budget_s=0.0)
    assert not cycle.taking  # all taken: the commit began
    assert cycle.settle(wait=True)

    [(offsets, snapshots)] = outputs.commits
    assert offsets == ["offsets of checkpoint N"]
    expected = _states(settings, twin).snapshots()
    assert sorted(snapshots) == sorted((asset, value) for asset, _, value in expected)
    restored = _restored(settings, [(asset, 0, value) for asset, value in snapshots])
    assert _scores(restored, batches[60:]) == _scores(twin, batches[60:])
