"""An output librdkafka refuses in ``produce`` (here: a partition that does not exist, what a
snapshot's explicit partition meets when the state topic has fewer partitions than it should)
aborts the transaction, and the service's way back, a new producer with the same
``transactional.id`` and a replay, commits every output exactly once: nothing of the aborted
transaction is read, nothing is lost.

Against the real broker because what ``produce`` raises, and when, is librdkafka's: the
refusal is synchronous once the producer knows the topic's partitions. (Without the abort the
old transaction could even commit, without the refused output.)
"""

from __future__ import annotations

import uuid
from typing import Any, cast

import pytest
from confluent_kafka import KafkaError

from pipeline.outputs import CommitAborted, TransactionalOutputs
from pipeline.settings import TopicSettings
from tests.integration.conftest import KafkaBroker
from tests.integration.kafka_io import read_all

pytestmark = pytest.mark.integration

_NO_CONSUMER: Any = cast(Any, None)  # ``commit`` without offsets does not call the consumer


def test_a_refused_output_aborts_the_transaction_and_the_replay_commits_it_once(
    kafka_broker: KafkaBroker, topic_settings: TopicSettings
) -> None:
    config, topics = kafka_broker.config, topic_settings
    transactional_id = f"refused-{uuid.uuid4().hex[:8]}"
    outputs = TransactionalOutputs(dict(config), transactional_id, 10_000)
    outputs.produce_many(topics.scores, [(b"a", b"1"), (b"b", b"2")], [])
    outputs.produce(topics.state, b"a", b"snapshot-a", [], 0)
    outputs.commit([], _NO_CONSUMER)  # the producer now knows the state topic's partitions

    replayed = [(b"c", b"3"), (b"d", b"4")]
    outputs.produce_many(topics.scores, replayed, [])
    with pytest.raises(CommitAborted, match="producing an output failed") as raised:
        outputs.produce(topics.state, b"c", b"snapshot-c", [], topics.partitions + 5)
    assert raised.value.code == KafkaError._UNKNOWN_PARTITION

    # the service's way back (Service._process_batch_or_rewind): a new producer, whose
    # init_transactions aborts the open transaction, and the batch again
    outputs.close()
    outputs = TransactionalOutputs(dict(config), transactional_id, 10_000)
    try:
        outputs.produce_many(topics.scores, replayed, [])
        outputs.produce(topics.state, b"c", b"snapshot-c", [], 1)
        outputs.commit([], _NO_CONSUMER)
    finally:
        outputs.close()

    scores = read_all(kafka_broker.bootstrap, topics.scores, 4, timeout_s=30)
    assert sorted((m.key(), m.value()) for m in scores) == [
        (b"a", b"1"),
        (b"b", b"2"),
        (b"c", b"3"),
        (b"d", b"4"),
    ]
    state = read_all(kafka_broker.bootstrap, topics.state, 2, timeout_s=30)
    assert sorted((m.key(), m.partition(), m.value()) for m in state) == [
        (b"a", 0, b"snapshot-a"),
        (b"c", 1, b"snapshot-c"),
    ]
