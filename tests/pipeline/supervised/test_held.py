"""Held labels: a label takes effect where the readings reach it, however early it arrived."""

from __future__ import annotations

from pipeline.messages import encode
from pipeline.processor import Processor, Source
from pipeline.settings import Settings
from tests.pipeline.supervised.test_supervisor import label, reading

LABELS = "sensor.labels"
READINGS = "sensor.readings"


def processor(delay_s: float = 3) -> Processor:
    supervised = {"enabled": True, "horizon_s": 20, "label_delay_s": delay_s,
                  "sample_interval_s": 0}  # fmt: skip
    return Processor(Settings.load(None, alerts={"warmup": 20}, supervised=supervised))


def stream(arrive_before: int) -> tuple[list[bytes], list[Source]]:
    """A failing asset's scores, its failure label held just before reading ``arrive_before``."""
    proc = processor()
    failure = label("a", 100, "failure")
    scores, released = [], []
    for second in range(0, 160):
        if second == arrive_before:
            proc.hold_label(failure, Source(LABELS, 0, 0, b"a"))
        value = 10.0 + max(0, second - 85) * 0.5
        source = Source(READINGS, 0, second, b"a")
        score = proc.process_batch([(reading("a", second, value), source)])[0].score
        assert score is not None
        scores.append(encode(score))
        released += [source for source, letter in proc.take_released() if letter is None]
    return scores, released


def test_the_label_takes_effect_at_its_time_plus_the_delay_whenever_it_arrived():
    early, released = stream(arrive_before=0)
    assert early == stream(arrive_before=50)[0] == stream(arrive_before=103)[0]
    assert released == [Source(LABELS, 0, 0, b"a")]  # applied once, committed from then
    assert stream(arrive_before=110)[0] != early  # later than its delay: it takes effect late


def test_until_released_the_label_is_held_and_not_applied():
    proc = processor()
    proc.hold_label(label("a", 100, "failure"), Source(LABELS, 0, 4, b"a"))
    proc.process_batch([(reading("a", 102, 1.0), Source(READINGS, 0, 0, b"a"))])
    assert len(proc.held) == 1 and proc.take_released() == []
    assert proc.supervisor is not None and proc.supervisor.labels_seen == {}
    proc.process_batch([(reading("a", 103, 1.0), Source(READINGS, 0, 1, b"a"))])
    assert len(proc.held) == 0 and proc.supervisor.labels_seen == {"failure": 1}
    assert proc.take_released() == [(Source(LABELS, 0, 4, b"a"), None)]


def test_a_bad_label_is_dead_lettered_in_its_turn():
    proc = processor()
    proc.hold_label(b"{", Source(LABELS, 0, 0, None))  # nothing ahead of it: at once
    ((source, letter),) = proc.take_released()
    assert letter is not None and letter.reason == "malformed_json" and source.offset == 0
    proc.hold_label(label("a", 100, "failure"), Source(LABELS, 0, 1, b"a"))
    proc.hold_label(b"{", Source(LABELS, 0, 2, None))  # behind a held label: after it
    assert proc.take_released() == []
    proc.process_batch([(reading("a", 103, 1.0), Source(READINGS, 0, 0, b"a"))])
    assert [(s.offset, letter is None) for s, letter in proc.take_released()] == [
        (1, True), (2, False)
    ]  # fmt: skip


def test_partitions_hold_their_own_labels_and_drop_them_on_rewind():
    proc = processor()
    proc.hold_label(label("a", 100, "failure"), Source(LABELS, 0, 0, b"a"))
    proc.hold_label(label("b", 100, "failure"), Source(LABELS, 1, 0, b"b"))
    proc.process_batch([(reading("b", 200, 1.0), Source(READINGS, 1, 0, b"b"))])
    assert [s.partition for s, _ in proc.take_released()] == [1] and len(proc.held) == 1
    proc.held.drop([0])
    assert len(proc.held) == 0
