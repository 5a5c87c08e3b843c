"""Compact snapshots of the default detector's states: taken as they were at a checkpoint (each
before its asset's next readings, or a chunk a round), signed, restoring what the pickled snapshots
restored (:mod:`pipeline.compact_states`)."""

from __future__ import annotations

import dataclasses
import pickle
import sys
import threading
from array import array
from collections import deque
from typing import Any

import msgspec
import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from pipeline.compact_restore import decode_state
from pipeline.compact_states import VERSION, encode_states
from pipeline.errors import SnapshotRefused
from pipeline.messages import Alert
from pipeline.metrics import ServiceMetrics
from pipeline.partitions import PartitionStates
from pipeline.processor import Processor
from pipeline.settings import Settings
from pipeline.state import COMPACT_MAGIC, PACKED_MAGIC, PLAIN_MAGIC, SnapshotCodec
from tests.pipeline.checkpoint_fixtures import (
    ASSETS,
    checkpoint_begun,
    fleet_batches,
    partition_states,
    restored_processor,
    scores,
    settings_for,
)

_MODELS = [
    {},
    {"calibration": "likelihood"},
    {"stuck_after": None, "smooth": 1},
    {"kind": "zscore"},
]


def _settings(compact: bool = True, **model: Any) -> Settings:
    return settings_for(compact, **model)


def _canonical(value: object) -> object:
    """``value`` as plain nested values: types, fields and contents (not which objects are
    shared, which pickling keeps and no restore depends on)."""
    if isinstance(value, dict):
        return {key: _canonical(item) for key, item in value.items()}, list(value)
    if isinstance(value, (list, tuple)):
        return type(value).__name__, [_canonical(item) for item in value]
    if isinstance(value, deque):
        return "deque", value.maxlen, [_canonical(item) for item in value]
    if isinstance(value, np.ndarray):
        return "ndarray", value.dtype.str, value.shape, value.tobytes()
    if isinstance(value, array):
        return "array", value.typecode, value.tobytes()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return type(value).__qualname__, _canonical(fields)
    if hasattr(value, "__dict__") and not isinstance(value, type):
        return type(value).__qualname__, _canonical(vars(value))
    if hasattr(type(value), "__slots__"):  # e.g. RunningMoments: what it pickles as
        return type(value).__qualname__, _canonical(value.__getstate__())
    return type(value).__qualname__, value


@pytest.mark.parametrize("model", _MODELS)
def test_a_compact_snapshot_restores_what_the_pickled_one_restored(model: dict[str, Any]) -> None:
    batches = fleet_batches(70, seed=7)
    compact, pickled = _settings(True, **model), _settings(False, **model)
    live, twin = Processor(compact), Processor(compact)
    scores(live, batches[:50])
    scores(twin, batches[:50])
    new, old = (
        partition_states(compact, live).snapshots(),
        partition_states(pickled, live).snapshots(),
    )
    assert {value[:4] for _, _, value in new} == {COMPACT_MAGIC}
    assert {value[:4] for _, _, value in old} == {PLAIN_MAGIC}

    from_new, from_old = restored_processor(compact, new), restored_processor(compact, old)
    for asset in live.assets:
        assert _canonical(from_new.assets[asset]) == _canonical(from_old.assets[asset])
    assert scores(from_new, batches[50:]) == scores(twin, batches[50:])


def test_policy_and_post_of_unknown_shape_are_pickled_inside_the_body() -> None:
    processor = Processor(_settings())
    scores(processor, fleet_batches(30, seed=7))
    state = processor.assets["asset-002"]
    state.policy.extra = [1]  # type: ignore[attr-defined]  # a field the encoder does not know
    state.policy.active = Alert(
        alert_id="a-1",
        asset="asset-002",
        state="raised",
        severity="high",
        ts=2,
        first_ts=1,
        score=0.99,
        channels=["t"],
        model="m",
        reason="r",
    )
    [(_, _, body)], left = encode_states([("asset-002", 0, state)])
    assert not left
    restored = decode_state(body)
    assert restored.policy.extra == [1]  # type: ignore[attr-defined]
    assert _canonical(restored) == _canonical(pickle.loads(pickle.dumps(state)))


def test_states_of_other_detectors_are_left_to_pickling() -> None:
    settings = _settings(kind="robust")
    processor = Processor(settings)
    scores(processor, fleet_batches(10, seed=7))
    owed = [(asset, 0, state) for asset, state in processor.assets.items()]
    encoded, left = encode_states(owed)
    assert not encoded and left == owed
    states = partition_states(settings, processor)
    states.owe(copy=False)
    assert states.owing  # pickled, as before, before the assets' next readings


def test_a_compact_snapshot_is_refused_unless_its_signature_checks() -> None:
    processor = Processor(_settings())
    scores(processor, fleet_batches(20, seed=7))
    [(asset, _, body)], _ = encode_states([("asset-001", 0, processor.assets["asset-001"])])
    codec = SnapshotCodec(b"k")
    value = codec.seal(asset, body, compact=True)
    assert value[:4] == COMPACT_MAGIC
    with pytest.raises(SnapshotRefused, match="bad signature"):
        codec.decode(asset, value[:-1] + bytes([value[-1] ^ 1]))  # altered
    with pytest.raises(SnapshotRefused, match="bad signature"):
        codec.decode("asset-002", value)  # replayed under another asset
    with pytest.raises(SnapshotRefused, match="bad signature"):
        SnapshotCodec(b"other").decode(asset, value)
    with pytest.raises(SnapshotRefused, match="bad signature"):  # passed off as a pickle
        codec.decode(asset, PLAIN_MAGIC + value[4:])
    packed = SnapshotCodec(b"k", compress_from=0).seal(asset, body, compact=True)
    assert packed[:4] == PACKED_MAGIC
    assert _canonical(codec.decode(asset, packed)) == _canonical(codec.decode(asset, value))


@pytest.mark.parametrize(
    "body",
    [
        b"\x93\x01\x02\x03",  # a msgpack array of the wrong length
        msgspec.msgpack.encode([VERSION + 1, b"", b"", [], [], 0, None, {}]),
        msgspec.msgpack.encode([VERSION, b"not zlib", b"", [1], [1], 0, None, {}]),
        b"\xc1",  # not msgpack
    ],
)
def test_a_signed_body_this_version_cannot_read_is_refused(body: bytes) -> None:
    codec = SnapshotCodec(b"k")
    with pytest.raises(SnapshotRefused, match="cannot be read by this version"):
        codec.decode("asset-001", codec.seal("asset-001", body, compact=True))


def test_compact_snapshots_are_encoded_before_their_readings_and_sent_over_rounds() -> None:
    run = checkpoint_begun(_settings(), seed=7)
    assert run.began
    assert run.states.owing  # no row encoded yet: each before its asset's next readings
    assert run.cycle.taking and run.outputs.produced == []  # none sealed or sent yet
    for batch in run.batches[60:70]:  # the service goes on: its states change
        run.go_on(batch)  # every asset has a reading in it: all encoded first
        assert not run.states.owing
        run.cycle.take_snapshots(None, budget_s=0.0)  # a round's share: one, budget spent
    assert len(run.outputs.produced) == 10 and run.outputs.commits == []
    with pytest.raises(RuntimeError, match="still owed"):
        run.states.taken()
    assert run.cycle.settle(wait=True)  # the rest sent, then the commit

    [(offsets, snapshots)] = run.outputs.commits
    assert offsets == ["offsets of checkpoint N"]
    assert {value[:4] for _, value in snapshots} == {COMPACT_MAGIC}
    assert sorted(asset for asset, _ in snapshots) == sorted(run.twin.assets)
    restored = restored_processor(run.settings, [(asset, 0, value) for asset, value in snapshots])
    assert scores(restored, run.batches[60:]) == scores(run.twin, run.batches[60:])


def test_rows_owed_are_encoded_as_they_were_while_the_fleet_scores_others() -> None:
    """Readings of some assets after the checkpoint: their rows are encoded before those
    readings change them, the others' in later rounds, and every snapshot is the state at the
    checkpoint (the fleet's arrays changed meanwhile)."""
    run = checkpoint_begun(_settings(), seed=11)
    first = {asset.encode() for asset in sorted(run.live.assets)[: ASSETS // 2]}
    for batch in run.batches[60:64]:
        run.go_on([message for message in batch if message[1].key in first])
        assert run.states.owing  # the other half: no reading waits for them
    assert not run.states.take_some(2) and len(run.states._unencoded) == ASSETS // 2 - 2
    for _ in range(2):  # chunks of up to 32 rows a round: the other 4 in one
        run.cycle.take_snapshots(None, budget_s=0.0)
    assert not run.states.owing
    assert run.cycle.settle(wait=True)

    [(_, snapshots)] = run.outputs.commits
    assert sorted(asset for asset, _ in snapshots) == sorted(run.twin.assets)
    restored = restored_processor(run.settings, [(asset, 0, value) for asset, value in snapshots])
    assert scores(restored, run.batches[60:]) == scores(run.twin, run.batches[60:])


def test_compact_bodies_sealed_compressed_are_left_to_the_commit() -> None:
    """A body that ``seal`` compresses (a full calibration window) is sealed by the commit, in
    the helper thread of a background one: not a few each round in the consuming thread."""
    settings = _settings()
    processor = Processor(settings)
    scores(processor, fleet_batches(10, seed=7))
    states, sent = partition_states(settings, processor), []
    assert states.codec is not None
    states.codec.compress_from = 0  # as if every body were a large one
    states.owe(lambda asset, partition, value: sent.append((asset, partition, value)))
    assert states.take_some(None)  # encoded, none sealed
    taken = states.taken()
    assert sent == [] and sorted(t.asset for t in taken) == sorted(processor.assets)
    assert {value[:4] for _, _, value in states.seal(taken)} == {PACKED_MAGIC}


def test_an_encoding_that_fails_leaves_the_states_to_pickle(monkeypatch, caplog) -> None:
    settings = _settings()
    processor = Processor(settings)
    scores(processor, fleet_batches(10, seed=7))

    def broken(owed: object, shared: object) -> object:
        raise RuntimeError("a bug in the encoding")

    monkeypatch.setattr("pipeline.compact_states.encode_states", broken)
    states = partition_states(settings, processor)
    states.owe(copy=False)
    states.take([b"asset-001"])  # its readings come next: pickled now
    assert "encoding the states for a checkpoint failed" in caplog.text
    assert states.owing and len(states._taken) == 1
    assert states.take_some(None)  # the others pickled, not encoded again
    assert caplog.text.count("encoding the states for a checkpoint failed") == 1
    taken = states.seal(states.taken())
    assert sorted(asset for asset, _, _ in taken) == sorted(processor.assets)
    assert {value[:4] for _, _, value in taken} == {PLAIN_MAGIC}


def test_decodes_in_two_threads_do_not_mix_their_rows() -> None:
    processor = Processor(_settings())
    scores(processor, fleet_batches(40, seed=7))
    owed = [(asset, 0, processor.assets[asset]) for asset in ("asset-001", "asset-002")]
    encoded, _ = encode_states(owed)
    expected = {asset: _canonical(decode_state(body)) for asset, _, body in encoded}
    assert len(set(map(repr, expected.values()))) == 2  # the rows differ
    mixed: list[str] = []
    start = threading.Barrier(2)

    def decode_many(asset: str, body: bytes) -> None:
        start.wait()
        for _ in range(300):
            if _canonical(decode_state(body)) != expected[asset]:
                mixed.append(asset)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter can
    try:
        threads = [threading.Thread(target=decode_many, args=(a, b)) for a, _, b in encoded]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert not mixed


@pytest.mark.parametrize("compact", [True, False])
def test_the_snapshot_seconds_histogram_counts_snapshots(compact: bool) -> None:
    settings = _settings(compact)
    processor = Processor(settings)
    scores(processor, fleet_batches(10, seed=7))
    registry = CollectorRegistry()
    states = PartitionStates(settings, processor.assets, ServiceMetrics(registry))
    states.touch_all({asset: 0 for asset in processor.assets})
    assert len(states.snapshots()) == ASSETS
    assert registry.get_sample_value("linewatch_snapshot_seconds_count") == ASSETS
    assert registry.get_sample_value("linewatch_snapshot_bytes_count") == ASSETS
