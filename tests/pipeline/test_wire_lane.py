"""The batch path's own decoding lane (``BatchPath.run_messages``): the outcomes of decoding every
message with the checked decoder first (``Processor.entries``), on valid and invalid input."""

from __future__ import annotations

import json
import pickle
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from pipeline.compact_restore import decode_state
from pipeline.compact_states import encode_states
from pipeline.decoding import WireReading
from pipeline.messages import Reading, encode
from pipeline.processor import Outcome, Processor, Source
from pipeline.row_decoding import row_dict
from tests.pipeline.test_fleet import CONFIGS, MESSAGES, settings_for, stream

WARM = stream(400, assets=5, odd=False)
"""Readings that put assets 0-4 into their fleet (with ts up to ~80,000 and seq up to ~80)."""


def odd_variants(asset: str, ts: int, seq: int) -> list[dict[str, Any]]:
    """Readings of an established asset that the lane must not take as they come."""
    values = {"current": 10.0, "flow": 5.0, "pressure": 2.0, "temp": 40.0}
    base = {"asset": asset, "ts": ts, "values": values, "seq": seq}
    return [
        base,  # valid: ts and seq beyond the asset's
        base,  # a duplicate of it
        {**base, "seq": seq + 1},  # same ts and values, new seq: a duplicate by values
        {**base, "seq": seq + 2, "values": {**values, "temp": 41.0}},  # same ts, new values
        {**base, "ts": ts - 5000, "seq": seq + 3},  # older ts
        {**base, "ts": ts + 1, "seq": seq - 10},  # older seq
        {**base, "ts": -1, "seq": seq + 4},
        {**base, "ts": 2**63, "seq": seq + 5},
        {**base, "ts": float(ts + 2), "seq": seq + 6},
        {**base, "ts": "2024-01-01T00:00:00Z", "seq": seq + 7},
        {**base, "ts": ts + 3, "seq": -1},
        {**base, "ts": ts + 3, "seq": 2**64},
        {**base, "ts": ts + 3, "seq": None},
        {**base, "ts": ts + 4, "seq": seq + 8, "line": 3},
        {**base, "ts": ts + 5, "seq": seq + 9, "extra": {"y": [1, 2]}},
        {**base, "ts": ts + 6, "seq": seq + 10, "values": {**values, "temp": True}},
        {**base, "ts": ts + 7, "seq": seq + 11, "values": {**values, "temp": "40"}},
        {**base, "ts": ts + 8, "seq": seq + 12, "values": {**values, "vibration": 1.0}},
        {**base, "ts": ts + 9, "seq": seq + 13, "values": {"temp": 40.0}},
        {**base, "ts": ts + 10, "seq": seq + 14, "values": {}},
        {**base, "ts": ts + 11, "seq": seq + 15, "asset": asset + "\u0000"},
        {**base, "ts": ts + 12, "seq": seq + 16, "asset": "x" * 129},
        {**base, "ts": ts + 13, "seq": seq + 17, "values": {**values, "\u0001": 1.0}},
        {**base, "ts": ts + 14, "seq": seq + 18},  # valid again
    ]


def raw_odd(asset: str, ts: int) -> list[bytes]:
    """Bytes json cannot write: non-finite values, duplicate keys, bad UTF-8, oversized."""
    head = f'{{"asset":"{asset}","ts":{ts},"values":{{"current":10,"flow":5,"pressure":2,'
    return [
        (head + '"temp":1e999}}').encode(),
        (head + '"temp":NaN}}').encode(),
        (head + '"temp":1e153}}').encode(),
        (head + '"temp":-2e15}}').encode(),
        (head + '"temp":40,"temp":41}}').encode(),
        (head + '"temp":40}}').encode()[:-2] + b"\xff}}",
        (head + '"temp":40}}').encode() + b" " * 5000,
        (head + '"temp":40}} trailing').encode(),
    ]


def sources(values: list[bytes], seed: int) -> list[tuple[bytes | None, Source]]:
    """Each value with a source: its asset as key mostly, sometimes none or another key."""
    rng = random.Random(seed)
    out: list[tuple[bytes | None, Source]] = []
    for offset, value in enumerate(values):
        try:
            asset = json.loads(value)["asset"].encode()
        except (ValueError, KeyError, TypeError, AttributeError):
            asset = b"asset-1"
        key = rng.choice([asset, asset, asset, None, b"asset-2"])
        out.append((value, Source("r", offset % 3, offset, key)))
    return out


def through_entries(processor: Processor, batch: list[tuple[bytes | None, Source]]) -> list[Any]:
    """What ``process_batch`` gave before the lane: every message decoded first."""
    return list(processor._run(processor.entries(batch)))


def both(
    config: dict[str, Any], messages: list[tuple[bytes | None, Source]], size: int
) -> tuple[list[Outcome], list[Outcome]]:
    settings = settings_for(config)
    lane, reference = Processor(settings), Processor(settings)
    got: list[Outcome] = []
    expected: list[Outcome] = []
    for start in range(0, len(messages), size):
        batch = messages[start : start + size]
        got += list(lane.process_batch(batch))
        expected += through_entries(reference, batch)
    return got, expected


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("size", [1, 37, 500])
def test_the_lane_gives_the_outcomes_of_decoding_first(config, size):
    odd = [encode(Reading(f"asset-{a}", 10**6 + a, {"temp": 1.0})) for a in range(3)]
    for a in range(5):
        odd += [json.dumps(v).encode() for v in odd_variants(f"asset-{a}", 10**7, 10**4)]
        odd += raw_odd(f"asset-{a}", 10**7 + 100)
    values = WARM + stream(600, assets=7, seed=1) + odd + MESSAGES + stream(200, seed=2)
    got, expected = both(config, sources(values, seed=size), size)
    assert got == expected
    assert sum(o.dead_letter is not None for o in got) > len(odd) // 2
    assert sum(o.score is not None for o in got) > len(WARM)


def reordered(values: list[bytes], order: list[str]) -> list[bytes]:
    """The readings with their channels in ``order`` first (the simulator's channel order is
    not the sorted one, so the lane takes their rows by name), anything else as it was."""
    out = []
    for value in values:
        try:
            obj = json.loads(value)
            channels = obj["values"]
            obj["values"] = {n: channels[n] for n in order if n in channels} | channels
        except (ValueError, KeyError, TypeError):
            out.append(value)
            continue
        out.append(json.dumps(obj).encode())
    return out


@pytest.mark.parametrize("config", CONFIGS)
def test_readings_whose_channels_are_not_in_sorted_order_get_the_same_outcomes(config):
    order = ["temp", "current", "pressure", "flow"]
    values = reordered(WARM + stream(600, assets=7, seed=3), order)
    # one asset whose one model channel comes with another (a one-channel row by name when
    # the model's channels are configured), and one with an unconfigured channel first
    values += [
        encode(Reading(f"asset-{a}", 10**6 + t, {"x": float(t % 7), "temp": 40.0 + t % 5}))
        for t in range(40)
        for a in (20, 21)
    ]
    got, expected = both(config, sources(values, seed=7), 500)
    assert got == expected
    assert sum(o.score is not None for o in got) > len(WARM) + 2 * 30


def test_lane_readings_materialise_as_readings():
    processor = Processor(settings_for({"model": {"kind": "mahalanobis"}}))
    outcomes = processor.process_batch(sources(WARM, seed=0))
    readings = [o.reading for o in outcomes if o.reading is not None]
    assert readings and all(type(r) is Reading for r in readings)
    wire = processor.decoder.wire(WARM[-1])
    assert type(wire) is WireReading and wire.reading() == readings[-1]


OBJECTS = st.fixed_dictionaries(
    {
        "asset": st.sampled_from(["asset-1", "asset-2", "asset-9", "", "a\u0007"]),
        "ts": st.one_of(
            st.integers(min_value=-2, max_value=2**64),
            st.floats(allow_nan=False),
            st.sampled_from([10**7, 10**7 + 1]),
        ),
        "values": st.dictionaries(
            st.sampled_from(["current", "flow", "pressure", "temp", "", "v"]),
            st.one_of(
                st.floats(min_value=-1e6, max_value=1e6),  # huge ones overflow the detectors
                st.sampled_from([float("inf"), float("nan"), 1e999]),  # not JSON: dead letters
                st.integers(min_value=-(2**70), max_value=2**70),
                st.booleans(),
            ),
        ),
    },
    optional={
        "seq": st.one_of(st.none(), st.integers(min_value=-2, max_value=2**65)),
        "line": st.one_of(st.none(), st.text(max_size=3), st.integers()),
    },
)


@hypothesis_settings(suppress_health_check=[HealthCheck.too_slow], deadline=None, max_examples=60)
@given(st.lists(OBJECTS, min_size=1, max_size=6))
def test_any_reading_of_an_established_asset_is_treated_as_decoding_first_treats_it(objects):
    values = WARM + [json.dumps(obj, allow_nan=True).encode() for obj in objects]
    got, expected = both({"model": {"kind": "mahalanobis"}}, sources(values, seed=0), 1000)
    assert got == expected


def keyed(values: list[bytes], key: bytes | None) -> list[tuple[bytes | None, Source]]:
    """Each value with key ``key``, or its asset's for ``b"own"``."""
    out: list[tuple[bytes | None, Source]] = []
    for offset, value in enumerate(values):
        asset = json.loads(value)["asset"].encode() if key == b"own" else key
        out.append((value, Source("r", 0, offset, asset)))
    return out


def last_values_of(asset: str, values: list[bytes]) -> dict[str, float]:
    mine = [json.loads(v) for v in values if json.loads(v)["asset"] == asset]
    return {name: float(x) for name, x in mine[-1]["values"].items()}


def test_an_assets_readings_after_its_second_decode_into_rows():
    """From an asset's second keyed reading in its fleet on, the next ones decode into a row of
    its layout (no dict): what its state keeps shows it; the row pickles as the dict."""
    processor = Processor(settings_for({"model": {"kind": "zscore"}}))
    warm = [v for v in WARM if b'"asset-0"' in v or b'"asset-1"' in v]
    processor.process_batch(keyed(warm, b"own"))
    assert set(processor._batch._row_lanes) == {b"asset-0", b"asset-1"}
    for asset in ("asset-0", "asset-1"):
        state = processor.assets[asset]
        assert type(state.last_values) is not dict
        assert row_dict(state.last_values) == last_values_of(asset, warm)
        restored = pickle.loads(pickle.dumps(state))
        assert type(restored.last_values) is dict
        assert restored.last_values == last_values_of(asset, warm)
    encoded, left = encode_states([(a, 0, processor.assets[a]) for a in ("asset-0", "asset-1")])
    assert not left
    for asset, _, body in encoded:
        assert decode_state(body).last_values == last_values_of(asset, warm)


def test_duplicates_are_found_whichever_way_each_copy_was_decoded():
    """A reading decoded into a row, then its copies keyed (a row again) and without a key (a
    dict): both copies are duplicates; then a new layout for the asset drops its row lane."""
    warm = [v for v in WARM if b'"asset-0"' in v]
    last = json.loads(warm[-1])
    new = {**last, "ts": last["ts"] + 1000, "seq": last["seq"] + 1}
    copy = json.dumps(new).encode()
    changed = {**new, "seq": new["seq"] + 1, "values": {**new["values"], "temp": 41.5}}
    wider = {**new, "ts": new["ts"] + 1000, "seq": new["seq"] + 2}
    wider["values"] = {**new["values"], "extra": 1.0}
    tail = [(copy, b"asset-0"), (copy, b"asset-0"), (copy, None)]
    tail += [(json.dumps(changed).encode(), b"asset-0"), (json.dumps(wider).encode(), b"asset-0")]
    messages = keyed(warm, b"own") + [(v, Source("r", 0, 0, k)) for v, k in tail]
    for config in ({"model": {"kind": "zscore"}}, {"model": {"kind": "mahalanobis"}}):
        got, expected = both(config, messages, 1000)
        assert got == expected
        reasons = [o.dead_letter.reason if o.dead_letter else None for o in got[-5:]]
        assert reasons == [None, "duplicate", "duplicate", None, None]
    processor = Processor(settings_for({"model": {"kind": "zscore"}}))
    processor.process_batch(messages)
    assert b"asset-0" not in processor._batch._row_lanes  # its layout changed
    assert processor.assets["asset-0"].last_values == wider["values"]
