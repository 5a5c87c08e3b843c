"""Positions: the offsets a checkpoint commits and how far labels were read."""

from __future__ import annotations

from pipeline.positions import Positions
from pipeline.processor import Source
from pipeline.settings import TopicSettings

TOPICS = TopicSettings(readings="r", labels="l")


def _messages(*pairs: tuple[int, int]) -> list[tuple[bytes | None, Source]]:
    return [(b"", Source("r", partition, offset)) for partition, offset in pairs]


def test_each_partition_advances_past_its_last_message() -> None:
    positions = Positions(TOPICS)
    positions.advance(_messages((0, 4), (1, 9), (0, 5), (2, 1), (1, 10)), partitions=3)
    assert positions.readings == {0: 6, 1: 11, 2: 2}
    positions.advance(_messages((2, 2)), partitions=3)
    assert positions.readings == {0: 6, 1: 11, 2: 3}


def test_the_scan_from_the_end_stops_once_every_assigned_partition_was_seen() -> None:
    positions = Positions(TOPICS)
    positions.advance(_messages((0, 4), (1, 9), (0, 5)), partitions=1)
    assert positions.readings == {0: 6}  # one partition assigned: the last message's


def test_labels_commit_when_released_and_the_gate_sees_them_when_read() -> None:
    positions = Positions(TOPICS)
    positions.read_label(Source("l", 1, 3))
    positions.read_label(Source("l", 1, 4))
    assert positions.labels_read == {1: 5} and positions.offsets() == []
    positions.release_label(Source("l", 1, 3))
    assert [(p.topic, p.partition, p.offset) for p in positions.offsets()] == [("l", 1, 4)]
    positions.discard()
    assert positions.offsets() == [] and positions.labels_read == {1: 5}
    positions.forget([1])
    assert positions.labels_read == {}
