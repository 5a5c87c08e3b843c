"""An output the producer refuses in ``produce`` (``KafkaException``) is an aborted commit
(``_STATE`` once the transaction failed: the caller replays), or the fatal error it is, or,
when the replay would meet the same refusal (message too large, unknown partition), an error
that ends the service instead of an endless replay (the producer: ``FullQueue``)."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import KafkaError

from pipeline.errors import KafkaTransportError
from pipeline.outputs import CommitAborted
from pipeline.outputs_at_least_once import AtLeastOnceOutputs
from tests.pipeline.test_produce import _OUTPUTS, FullQueue, _transactional

# What librdkafka raised from produce against the test broker (2.16):
# fatal() is false on all three, also on _FATAL, the answer once the producer was fenced
_REFUSALS = {
    "transaction failed": KafkaError(KafkaError._STATE, "Local: Erroneous state"),
}
_REFUSED_AGAIN = {
    "unknown partition": KafkaError(KafkaError._UNKNOWN_PARTITION, "Local: Unknown partition"),
    "message too large": KafkaError(
        KafkaError.MSG_SIZE_TOO_LARGE, "Broker: Message size too large"
    ),
}
_FATAL_REFUSALS = {
    "fenced earlier": KafkaError(KafkaError._FATAL, "Local: Fatal error"),
    "fatal": KafkaError(KafkaError._FENCED, "fenced by newer producer instance", fatal=True),
}
_RECORDS: list[tuple[bytes | None, bytes]] = [(b"a", b"1"), (b"b", b"2"), (b"c", b"3")]


def _tries(producer: FullQueue) -> list[str]:
    """The producer's log without its polls: the outputs tried, and how each went."""
    return [entry[0] for entry in producer.log if entry[0] != "poll"]


def _produce(outputs: Any, how: str) -> None:
    """The three ways :class:`~pipeline.outputs.Outputs` produce (the 2nd output refused)."""
    if how == "one":
        for output in _OUTPUTS:
            outputs.produce(*output)
    elif how == "many":
        outputs.produce_many("scores", _RECORDS, [])
    else:
        outputs.produce_all(_OUTPUTS)


@pytest.mark.parametrize("how", ["one", "many", "all"])
@pytest.mark.parametrize("refusal", sorted(_REFUSALS))
def test_an_output_the_producer_refuses_aborts_the_transaction(how: str, refusal: str) -> None:
    """The transaction cannot commit with the output missing: :class:`CommitAborted` (the
    caller rewinds and replays), keeping librdkafka's code; nothing after it is tried."""
    error = _REFUSALS[refusal]
    producer = FullQueue(set(), refused={2: error})
    outputs, calls = _transactional(producer, lost=False)
    with pytest.raises(CommitAborted, match="producing an output failed") as raised:
        _produce(outputs, how)
    assert raised.value.code == error.code()
    assert _tries(producer) == ["produce", "refused"]
    assert producer.log[-1] == ("poll", 0)  # serves error_cb before the check
    assert calls == ["check"]  # refused credentials would be the error to report


@pytest.mark.parametrize("how", ["one", "many", "all"])
@pytest.mark.parametrize("refusal", sorted(_FATAL_REFUSALS))
def test_an_output_refused_with_a_fatal_error_is_the_fatal_error(how: str, refusal: str) -> None:
    """A fenced producer must not be replaced (its successor would fence the instance that
    fenced it): the fatal error ends the service, as from a transactional call."""
    error = _FATAL_REFUSALS[refusal]
    producer = FullQueue(set(), refused={2: error})
    outputs, _ = _transactional(producer, lost=False)
    with pytest.raises(KafkaTransportError, match=r"failed \(fatal\)") as raised:
        _produce(outputs, how)
    assert not isinstance(raised.value, CommitAborted)
    assert raised.value.code == error.code()


@pytest.mark.parametrize("how", ["one", "many", "all"])
@pytest.mark.parametrize("refusal", sorted(_REFUSED_AGAIN))
@pytest.mark.parametrize("exactly_once", [True, False])
def test_a_refusal_the_replay_would_meet_again_ends_the_service(
    how: str, refusal: str, exactly_once: bool
) -> None:
    """The same output would be made and refused on every replay: the error, not a rewind."""
    error = _REFUSED_AGAIN[refusal]
    producer = FullQueue(set(), refused={2: error})
    if exactly_once:
        outputs: Any = _transactional(producer, lost=False)[0]
    else:
        outputs = object.__new__(AtLeastOnceOutputs)
        outputs._producer = producer
        outputs._failed = []
    with pytest.raises(KafkaTransportError, match="a replay would make the same") as raised:
        _produce(outputs, how)
    assert not isinstance(raised.value, CommitAborted)
    assert raised.value.code == error.code()
    assert _tries(producer) == ["produce", "refused"]


@pytest.mark.parametrize("how", ["one", "many", "all"])
def test_at_least_once_an_output_the_producer_refuses_keeps_the_offsets(how: str) -> None:
    """At-least-once: :class:`CommitAborted` at once, as for an output not delivered; the
    caller rewinds to the committed offsets, so the refused output's input is replayed."""
    error = _REFUSALS["transaction failed"]
    producer = FullQueue(set(), refused={2: error})
    outputs = object.__new__(AtLeastOnceOutputs)
    outputs._producer = producer  # type: ignore[assignment]
    outputs._failed = []
    with pytest.raises(CommitAborted, match="offsets not committed") as raised:
        _produce(outputs, how)
    assert raised.value.code == error.code()
    assert _tries(producer) == ["produce", "refused"]


class _Aborts(FullQueue):
    """:class:`FullQueue` that also aborts transactions (logged)."""

    def abort_transaction(self, timeout: float) -> None:
        self.log.append(("abort",))


@pytest.mark.parametrize("later", ["one", "many", "all", "commit"])
def test_a_transaction_that_lost_a_refused_output_takes_nothing_more_until_aborted(
    later: str,
) -> None:
    """A caller that went on after the refusal gets :class:`CommitAborted` again, from more
    outputs and from the commit: the transaction can never commit without that output. Once
    it is aborted, the next transaction takes outputs again."""
    error = _REFUSALS["transaction failed"]
    producer = _Aborts(set(), refused={2: error})
    outputs, _ = _transactional(producer, lost=False)
    outputs._commit_timeout_s = 1.0
    with pytest.raises(CommitAborted, match="producing an output failed"):
        _produce(outputs, "many")
    tried = len(producer.log)
    with pytest.raises(CommitAborted, match="lacks an output the producer refused") as raised:
        if later == "commit":
            outputs.commit([], None)  # type: ignore[arg-type]
        else:
            _produce(outputs, later)
    assert raised.value.code == error.code()
    assert len(producer.log) == tried  # neither produced nor committed
    outputs.abort()
    assert producer.log[-1] == ("abort",)
    outputs._open = True  # the next transaction (its begin is librdkafka's)
    outputs.produce_many("scores", _RECORDS, [])
    assert _tries(producer)[-3:] == ["produce"] * 3
