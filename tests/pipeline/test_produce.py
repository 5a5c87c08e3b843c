"""The produce loops when the local queue is full (``BufferError``): each output is produced
once, in order, the producer polled between tries; a transaction whose brokers went away
with the queue full ends in :class:`CommitAborted`. The loops for many outputs serve the
delivery reports due first (``poll(0)``; ``tests/integration/test_produce_slots.py`` shows
what that frees)."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException

from pipeline.outputs import CommitAborted, TransactionalOutputs
from pipeline.outputs_at_least_once import AtLeastOnceOutputs
from pipeline.produce import Output, produce_all, produce_many, produce_one

_OUTPUTS: list[Output] = [
    ("scores", b"a", b"1", [("h", b"1")], 0, 10),
    ("alerts", b"b", b"2", [], 1, 11),
    ("scores", None, b"3", [], -1, 0),
]


class FullQueue:
    """A producer whose ``produce`` raises ``BufferError`` on the chosen calls (counted
    from 1), or ``KafkaException`` on those of ``refused``; it logs every produce (its
    positional slots) and poll."""

    def __init__(self, full: set[int], refused: dict[int, KafkaError] | None = None) -> None:
        self.full, self.tries = full, 0
        self.refused = refused or {}
        """The calls that raise ``KafkaException`` with that error instead."""
        self.log: list[tuple[Any, ...]] = []

    def produce(self, *slots: Any) -> None:
        self.tries += 1
        if self.tries in self.refused:
            self.log.append(("refused", slots[2]))
            raise KafkaException(self.refused[self.tries])
        if self.tries in self.full:
            self.log.append(("full", slots[2]))
            raise BufferError("Local: Queue full")
        self.log.append(("produce", *slots))

    def poll(self, timeout: float) -> int:
        self.log.append(("poll", timeout))
        return 0

    def produced(self) -> list[tuple[Any, ...]]:
        return [entry[1:] for entry in self.log if entry[0] == "produce"]


def _slots(output: Output, on_delivery: object = None) -> tuple[Any, ...]:
    topic, key, value, headers, partition, timestamp = output
    return (topic, value, key, partition, on_delivery, None, timestamp, headers)


def _calls() -> tuple[list[str], Any]:
    calls: list[str] = []
    return calls, lambda: calls.append("on_full")


def test_produce_one_polls_and_asks_on_full_before_each_retry() -> None:
    producer, (calls, on_full) = FullQueue({1, 2}), _calls()
    produce_one(producer, *_OUTPUTS[0][:5], None, on_full, 10)  # type: ignore[arg-type]
    assert producer.log == [
        ("full", b"a"),
        ("poll", 0.1),
        ("full", b"a"),
        ("poll", 0.1),
        ("produce", *_slots(_OUTPUTS[0])),
    ]
    assert calls == ["on_full", "on_full"]


def test_produce_all_produces_every_output_once_in_order_through_a_full_queue() -> None:
    """The loop's failed try hands the output to :func:`produce_one`, which tries it again at
    once, then polls (and asks ``on_full``) before every further try."""
    producer, (calls, on_full) = FullQueue({2, 3, 4, 6}), _calls()
    produce_all(producer, _OUTPUTS, None, on_full)  # type: ignore[arg-type]
    assert producer.produced() == [_slots(output) for output in _OUTPUTS]
    assert producer.log == [
        ("poll", 0),
        ("produce", *_slots(_OUTPUTS[0])),
        ("full", b"b"),  # the loop's try
        ("full", b"b"),  # produce_one's first, at once
        ("poll", 0.1),
        ("full", b"b"),
        ("poll", 0.1),
        ("produce", *_slots(_OUTPUTS[1])),
        ("full", None),
        ("produce", *_slots(_OUTPUTS[2])),  # the retry at once succeeded: no poll
    ]
    assert calls == ["on_full", "on_full"]


def test_produce_many_produces_every_record_once_in_order_through_a_full_queue() -> None:
    records: list[tuple[bytes | None, bytes]] = [(b"a", b"1"), (None, b"2"), (b"c", b"3")]
    producer, (calls, on_full) = FullQueue({1, 2, 5}), _calls()
    produce_many(producer, "scores", records, [("h", b"1")], None, on_full)  # type: ignore[arg-type]
    expected = [("scores", value, key, -1, None, None, 0, [("h", b"1")]) for key, value in records]
    assert producer.produced() == expected
    assert [entry[0] for entry in producer.log] == [
        "poll",
        "full",
        "full",
        "poll",
        "produce",
        "produce",
        "full",
        "produce",
    ]
    assert calls == ["on_full"]


def _transactional(producer: FullQueue, lost: bool) -> tuple[TransactionalOutputs, list[str]]:
    """A :class:`TransactionalOutputs` in an open transaction on ``producer`` (no broker:
    ``__init__``, which initialises transactions, is skipped)."""
    calls: list[str] = []

    def gone() -> bool:
        calls.append("lost")
        return lost

    outputs = object.__new__(TransactionalOutputs)
    outputs._producer = producer  # type: ignore[assignment]
    outputs._open = True
    outputs._check = lambda: calls.append("check")
    outputs._lost = gone
    return outputs, calls


def test_a_transaction_waits_out_a_full_queue_while_the_brokers_are_there() -> None:
    producer = FullQueue({2, 3})
    outputs, calls = _transactional(producer, lost=False)
    outputs.produce_all(_OUTPUTS)
    assert producer.produced() == [_slots(output) for output in _OUTPUTS]
    assert calls == ["check", "lost"]


@pytest.mark.parametrize("many", [False, True])
def test_a_full_queue_with_the_brokers_lost_aborts_the_commit(many: bool) -> None:
    producer = FullQueue({2, 3})
    outputs, calls = _transactional(producer, lost=True)
    with pytest.raises(CommitAborted, match="brokers went away with the outputs queue full"):
        if many:
            outputs.produce_many("scores", [(b"a", b"1"), (b"b", b"2"), (b"c", b"3")], [])
        else:
            outputs.produce_all(_OUTPUTS)
    assert [entry[0] for entry in producer.log] == ["poll", "produce", "full", "full", "poll"]
    assert calls == ["check", "lost"]  # the outputs after it were not tried


def test_at_least_once_waits_out_a_full_queue_with_its_delivery_callback() -> None:
    producer = FullQueue({1, 2, 3})
    outputs = object.__new__(AtLeastOnceOutputs)
    outputs._producer = producer  # type: ignore[assignment]
    outputs._failed = []
    outputs.produce_all(_OUTPUTS)
    callback = outputs._on_delivery
    assert producer.produced() == [_slots(output, callback) for output in _OUTPUTS]
    assert [entry[0] for entry in producer.log].count("poll") == 3  # one first, two waits
