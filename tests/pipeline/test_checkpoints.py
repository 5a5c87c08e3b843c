"""The commit cycle's abort paths that need no broker (the rest: tests/integration)."""

from __future__ import annotations

from typing import Any, cast

from confluent_kafka import KafkaError
from prometheus_client import CollectorRegistry

from pipeline.background import BackgroundCommit
from pipeline.checkpoints import CommitCycle
from pipeline.metrics import ServiceMetrics
from pipeline.outputs import CommitAborted, TransactionalOutputs
from pipeline.settings import Settings
from tests.pipeline.test_produce import FullQueue


class _States:
    """Owes snapshots by producing them at once (as with supervision) into a dead producer."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def owe(self, send: Any) -> None:
        self.calls.append("owe")
        raise CommitAborted("the snapshot could not be produced: queue full, brokers down")

    def cancel(self) -> None:
        self.calls.append("cancel")

    def clear_touched(self) -> None:
        self.calls.append("clear_touched")


class _Positions:
    def __init__(self) -> None:
        self.discarded = 0

    def offsets(self) -> list[object]:
        return []

    def discard(self) -> None:
        self.discarded += 1


class _Consumer:
    def consumer_group_metadata(self) -> object:
        return object()


def test_a_snapshot_that_cannot_be_produced_at_the_checkpoint_aborts_it_for_a_rewind() -> None:
    """With supervision a background checkpoint produces every snapshot at once: a failure
    there is an aborted commit (the caller rewinds, a new producer aborts the transaction),
    not an error out of the service's loop."""
    settings = Settings.load(None, serve={"processing": "exactly_once"})
    registry = CollectorRegistry()
    metrics = ServiceMetrics(registry)
    states, positions, renewed = _States(), _Positions(), []
    commits = BackgroundCommit(max_held=10)
    cycle = CommitCycle(
        settings,
        metrics,
        cast(Any, states),
        cast(Any, positions),
        commits,
        outputs=lambda: cast(Any, None),
        consumer=lambda: cast(Any, _Consumer()),
        renew_outputs=lambda: renewed.append(True),
    )
    cycle.pending = 5
    assert cycle.checkpoint(background=True) is False
    assert states.calls == ["owe", "cancel", "clear_touched"]
    assert renewed == [True] and positions.discarded == 1 and cycle.pending == 0
    assert not commits.busy
    assert registry.get_sample_value("linewatch_commits_total", {"outcome": "aborted"}) == 1.0


def test_held_outputs_the_producer_refuses_abort_the_next_transaction_for_a_rewind() -> None:
    """The background commit succeeded; producing the outputs held meanwhile into the next
    transaction fails in librdkafka (here: ``_STATE``, a batch of it already failed). ``settle``
    answers ``False`` (the caller rewinds) with a new producer, instead of the
    ``KafkaException`` ending the service's loop."""
    settings = Settings.load(None, serve={"processing": "exactly_once"})
    registry = CollectorRegistry()
    states, positions, renewed = _States(), _Positions(), []
    producer = FullQueue(set(), refused={2: KafkaError(KafkaError._STATE)})
    outputs = object.__new__(TransactionalOutputs)
    outputs._producer = producer  # type: ignore[assignment]
    outputs._open, outputs._check, outputs._lost = True, lambda: None, lambda: False
    commits = BackgroundCommit(max_held=10)
    cycle = CommitCycle(
        settings,
        ServiceMetrics(registry),
        cast(Any, states),
        cast(Any, positions),
        commits,
        outputs=lambda: outputs,
        consumer=lambda: cast(Any, _Consumer()),
        renew_outputs=lambda: renewed.append(True),
    )
    commits.start(lambda: None)  # the checkpoint's commit, which succeeds
    commits.hold("scores", b"a", b"1", [], -1)
    commits.hold("state", b"b", b"2", [], 7)
    commits.hold("scores", b"c", b"3", [], -1)
    cycle.pending = 3
    assert cycle.settle(wait=True) is False
    assert [entry[0] for entry in producer.log if entry[0] != "poll"] == ["produce", "refused"]
    assert renewed == [True] and positions.discarded == 1 and cycle.pending == 0
    assert not commits.busy and commits.take_held() == []
    assert registry.get_sample_value("linewatch_commits_total", {"outcome": "committed"}) == 1.0
    assert registry.get_sample_value("linewatch_commits_total", {"outcome": "aborted"}) == 1.0
