"""A checkpoint's snapshots pickled from copies, a few at a time, after the states changed.

The copies taken at the checkpoint (:mod:`pipeline.state_copies`) must give the snapshots that
pickling every state at the checkpoint gave: the same bytes, restoring to the same scores, and
committed with that checkpoint's offsets however much the live states changed meanwhile.
"""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.processor import Processor
from pipeline.settings import Settings
from pipeline.state_copies import copy_states
from tests.pipeline.checkpoint_fixtures import (
    ASSETS,
    checkpoint_begun,
    fleet_batches,
    partition_states,
    restored_processor,
    scores,
    settings_for,
)


def _settings(**model: Any) -> Settings:
    """Pickled snapshots: the copies are for states without a compact form
    (``tests/pipeline/test_compact_states.py`` has those)."""
    return settings_for(False, **model)


@pytest.mark.parametrize(
    "model", [{}, {"calibration": "likelihood"}, {"stuck_after": None, "smooth": 1}]
)
def test_snapshots_spread_over_rounds_equal_those_taken_at_once(model: dict[str, Any]) -> None:
    settings = _settings(**model)
    batches = fleet_batches(80, seed=4)
    before, after = batches[:60], batches[60:]
    live, twin = Processor(settings), Processor(settings)
    scores(live, before)
    scores(twin, before)
    at_once = partition_states(settings, twin).snapshots()  # every state pickled at the checkpoint

    states, sent = partition_states(settings, live), []
    states.owe(lambda asset, partition, value: sent.append((asset, partition, value)))
    states.clear_touched()
    assert not states.owing  # every state was copied: readings need not wait for a pickle
    for batch in after[:10]:  # the live states change while the copies are pickled
        live.process_batch(batch)
        states.take_some(None, budget_s=0.0)  # one a round
    assert len(sent) == 10 and not states.take_some(1) and states.take_some(None)

    assert sorted(sent) == sorted(at_once)  # the same signed bytes
    assert scores(restored_processor(settings, sent), after) == scores(twin, after)


def test_a_state_that_cannot_be_copied_is_pickled_before_its_asset_changes() -> None:
    settings = _settings()
    processor = Processor(settings)
    scores(processor, fleet_batches(40, seed=4))
    odd = processor.assets["asset-003"]
    odd.policy.extra = [1]  # type: ignore[attr-defined]  # a field the copies do not know
    owed = [(asset, 0, state) for asset, state in sorted(processor.assets.items())]
    copies, left = copy_states(owed)
    assert [asset for asset, _, _ in left] == ["asset-003"]
    assert len(copies) == ASSETS - 1

    states = partition_states(settings, processor)
    states.owe()
    assert states.owing  # asset-003's readings wait for its snapshot (PartitionStates.take)
    states.take([None])  # a keyless message may change any live state, none of the copies
    assert not states.owing and len(states._copies) == ASSETS - 1  # left to their rounds
    assert states.take_some(None)
    assert len(states.taken()) == ASSETS


def test_a_copy_keeps_its_own_record_of_uncalibrated_rows() -> None:
    settings = _settings(calibration="likelihood")
    processor = Processor(settings)
    scores(processor, fleet_batches(40, seed=4))
    owed = [(asset, 0, state) for asset, state in sorted(processor.assets.items())]
    copies, _ = copy_states(owed)
    shadow = copies[0][2].model.fleet  # type: ignore[attr-defined]
    live = processor.assets[copies[0][0]].model.fleet  # type: ignore[attr-defined]
    assert shadow._untailed is not live._untailed
    assert shadow._untailed == set(range(len(copies)))  # no TailCalibrator under "likelihood"


def test_copies_that_fail_leave_the_live_states_to_pickle(monkeypatch, caplog) -> None:
    settings = _settings()
    processor = Processor(settings)
    scores(processor, fleet_batches(10, seed=4))

    def broken(owed: object) -> object:
        raise RuntimeError("a bug in the copies")

    monkeypatch.setattr("pipeline.state_copies.copy_states", broken)
    states = partition_states(settings, processor)
    states.owe()
    assert states.owing and "copying the states for a checkpoint failed" in caplog.text
    states.take([None])
    assert not states.owing
    assert sorted(asset for asset, *_ in states.taken()) == sorted(processor.assets)


def test_a_checkpoint_commits_its_states_with_its_offsets_though_they_changed_since() -> None:
    run = checkpoint_begun(_settings(), seed=4)
    cycle = run.cycle
    assert run.began and cycle.taking
    for batch in run.batches[60:70]:  # the service goes on: its states change
        run.go_on(batch)
        cycle.take_snapshots(None, budget_s=0.0)
    assert cycle.taking and not run.outputs.commits  # a snapshot a round: 10 of 12 so far
    cycle.take_snapshots(None, budget_s=0.0)
    cycle.take_snapshots(None, budget_s=0.0)
    assert not cycle.taking  # all taken: the commit began
    assert cycle.settle(wait=True)

    [(offsets, snapshots)] = run.outputs.commits
    assert offsets == ["offsets of checkpoint N"]
    expected = partition_states(run.settings, run.twin).snapshots()
    assert sorted(snapshots) == sorted((asset, value) for asset, _, value in expected)
    restored = restored_processor(run.settings, [(asset, 0, value) for asset, value in snapshots])
    assert scores(restored, run.batches[60:]) == scores(run.twin, run.batches[60:])
