"""Reading phases grouped by partition, and a fleet that reads in them."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from pipeline.messages import Label, Reading
from producers.fleet import Fleet, asset_name
from producers.partitioning import partition_of, phases_by_partition

NAMES = [asset_name(index) for index in range(12)]


def test_one_partition_keeps_the_index_order():
    assert phases_by_partition(NAMES, 1) == [index / 12 for index in range(12)]


def test_the_assets_of_one_partition_read_one_after_another():
    phases = phases_by_partition(NAMES, 4)
    assert sorted(phases) == [index / 12 for index in range(12)]  # evenly spread, each once
    by_phase = sorted(range(12), key=phases.__getitem__)
    keys = [(partition_of(NAMES[index].encode(), 4), index) for index in by_phase]
    assert keys == sorted(keys)  # partition by partition, index order within each
    assert len({partition for partition, _ in keys}) > 1


@pytest.mark.parametrize("key, partitions", [(b"", 4), (b"asset-000", 0)])
def test_partition_of_refuses_what_has_no_fixed_partition(key: bytes, partitions: int):
    with pytest.raises(ValueError):
        partition_of(key, partitions)


def test_a_fleet_reads_in_its_phases_and_stays_in_timestamp_order():
    phases = phases_by_partition(NAMES, 4)
    fleet = Fleet(12, seed=3, interval_s=1.2, start_ts_ms=0, phases=phases)
    records = [r for r in fleet.records(ticks=3) if isinstance(r, Reading)]
    assert [r.ts for r in records] == sorted(r.ts for r in records)
    first_tick = records[:12]
    expected = [round(phases[NAMES.index(r.asset)] * 1200) for r in first_tick]
    assert [r.ts for r in first_tick] == expected
    assert [r.ts - 1200 for r in records[12:24]] == [r.ts for r in first_tick]


def test_phases_do_not_change_an_assets_values():
    plain = Fleet(12, seed=3).records(ticks=20)
    phased = Fleet(12, seed=3, phases=phases_by_partition(NAMES, 4)).records(ticks=20)
    assert _values(plain) == _values(phased)


@pytest.mark.parametrize("phases", [[0.0] * 11, [0.0] * 11 + [1.0], [-0.1] + [0.0] * 11])
def test_a_fleet_refuses_phases_that_do_not_fit(phases: list[float]):
    with pytest.raises(ValueError, match="phases"):
        Fleet(12, phases=phases)


def _values(records: Iterable[Reading | Label]) -> list[tuple[str, int | None, tuple[float, ...]]]:
    return sorted(
        (r.asset, r.seq, tuple(r.values.values())) for r in records if isinstance(r, Reading)
    )
