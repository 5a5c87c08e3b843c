"""A consumed batch as columns (``Consumed``): the same pairs, and the same outcomes, as the
``(value, Source)`` pairs the service made for every message before."""

from __future__ import annotations

import json

import pytest

from pipeline.consumed import Consumed
from pipeline.messages import Reading, encode
from pipeline.processor import Processor, Source
from tests.pipeline.fake_message import FakeMessage
from tests.pipeline.test_fleet import CONFIGS, MESSAGES, settings_for, stream
from tests.pipeline.test_wire_lane import WARM, odd_variants, raw_odd, sources


def records(pairs: list[tuple[bytes | None, Source]]) -> list[FakeMessage]:
    return [FakeMessage(value, s.key, s.partition, s.offset) for value, s in pairs]


def test_records_read_as_the_pairs_the_service_made() -> None:
    pairs = [
        (b"a", Source("r", 2, 10, b"k")),
        (None, Source("r", 0, 4)),
        (b"c", Source("r", 2, 11)),
    ]
    batch = Consumed.of_records("r", records(pairs))
    assert (batch.values, batch.keys, batch.partitions) == (
        [b"a", None, b"c"],
        [b"k", None, None],
        [2, 0, 2],
    )
    assert list(batch) == pairs
    assert batch[-1] == pairs[-1]
    assert batch[1:] == pairs[1:]
    assert len(batch) == 3
    with pytest.raises(IndexError):
        batch[3]
    assert batch.next_offsets() == {2: 12, 0: 5}
    assert batch.next_offsets(partitions=1) == {2: 12}
    assert Consumed.of_pairs(pairs).next_offsets() == {2: 12, 0: 5}
    assert Consumed.of_pairs(batch) is batch


def test_an_index_before_the_first_message_is_out_of_range() -> None:
    pairs: list[tuple[bytes | None, Source]] = [
        (b"a", Source("r", 0, 1)),
        (b"b", Source("r", 0, 2)),
        (b"c", Source("r", 1, 3)),
    ]
    for batch in (Consumed.of_records("r", records(pairs)), Consumed.of_pairs(pairs)):
        assert batch[-3] == pairs[0]
        with pytest.raises(IndexError):
            batch[-4]  # not the last message again (the records' own negative index)
        with pytest.raises(IndexError):
            batch[-7]


@pytest.mark.parametrize("config", CONFIGS)
def test_the_lane_gives_the_same_outcomes_from_columns(config) -> None:
    odd = [encode(Reading(f"asset-{a}", 10**6 + a, {"temp": 1.0})) for a in range(3)]
    for a in range(3):
        odd += [json.dumps(v).encode() for v in odd_variants(f"asset-{a}", 10**7, 10**4)]
        odd += raw_odd(f"asset-{a}", 10**7 + 100)
    values = WARM + stream(300, assets=7, seed=1) + odd + MESSAGES
    pairs = sources(values, seed=3)
    settings = settings_for(config)
    columns, reference = Processor(settings), Processor(settings)
    for start in range(0, len(pairs), 250):
        batch = pairs[start : start + 250]
        got = list(columns.process_batch(Consumed.of_records("r", records(batch))))
        assert got == list(reference.process_batch(batch))
    letters = [o.dead_letter for o in got if o.dead_letter is not None]
    assert letters and all(letter.source.topic == "r" for letter in letters)
