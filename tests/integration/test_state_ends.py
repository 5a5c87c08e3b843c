"""A restore reads the state partitions only once no transaction in them is unfinished.

Against the real local broker: ``commit_transaction`` returns before the commit markers
reach the partitions, and until they do a ``read_committed`` reader sees the partition end
before the transaction's records (``pipeline/state_ends.py``).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from confluent_kafka import Producer

from pipeline.errors import KafkaTransportError
from pipeline.state import SnapshotCodec, read_snapshots
from pipeline.state_ends import settled_ends, state_reader
from tests.integration.conftest import KafkaBroker

pytestmark = pytest.mark.integration

CODEC = SnapshotCodec(b"test-snapshot-key")


def _refused(*args: object) -> None:
    raise AssertionError(f"refused: {args}")


@pytest.fixture
def owner(kafka_broker: KafkaBroker) -> Iterator[Producer]:
    """A transactional producer, as the service's outputs are."""
    producer = Producer(
        {**kafka_broker.config, "transactional.id": f"state-ends-{uuid.uuid4().hex}"}
    )
    producer.init_transactions(30)
    yield producer
    producer.flush(10)


def _snapshot(owner: Producer, topic: str, asset: str, state: dict[str, int]) -> None:
    owner.produce(topic, CODEC.encode(asset, state), asset.encode(), partition=0)


def test_a_restore_waits_for_a_transaction_under_way_and_reads_what_it_commits(
    kafka_broker, topic_settings, owner
):
    """The previous owner's first commit is still under way when the restore starts (as when
    its markers have not landed yet): the restore reads it once it is committed. Reading to
    the last stable offset, the partition looked empty and was skipped: the failure seen in
    ``test_scale_equality`` (a new owner restored no models, then took the offsets that this
    commit held)."""
    topic = topic_settings.state
    owner.begin_transaction()
    _snapshot(owner, topic, "press-1", {"n": 1})
    _snapshot(owner, topic, "press-2", {"n": 2})
    owner.flush(10)

    with ThreadPoolExecutor(1) as pool:
        restore = pool.submit(
            read_snapshots, kafka_broker.config, topic, [0, 1], CODEC, 30, _refused
        )
        time.sleep(1.0)  # the restore has started meanwhile
        owner.commit_transaction(30)
        restored = restore.result(60)
    assert restored == {0: {"press-1": {"n": 1}, "press-2": {"n": 2}}, 1: {}}


def test_an_unfinished_transaction_is_waited_for_and_its_abort_leaves_the_last_commit(
    kafka_broker, topic_settings, owner
):
    topic = topic_settings.state
    owner.begin_transaction()
    _snapshot(owner, topic, "press-1", {"n": 1})
    owner.commit_transaction(30)
    owner.begin_transaction()
    _snapshot(owner, topic, "press-1", {"n": 2})
    owner.flush(10)  # written, neither committed nor aborted: as an owner that died mid-commit

    committed = state_reader(kafka_broker.config)
    try:
        unfinished = r"partitions \[0\] .* unfinished transaction"
        with pytest.raises(KafkaTransportError, match=unfinished):
            settled_ends(committed, kafka_broker.config, topic, [0, 1, 2], 1.0)

        owner.abort_transaction(30)
        assert settled_ends(committed, kafka_broker.config, topic, [0, 1, 2], 30) == {0}
    finally:
        committed.close()
    restored = read_snapshots(kafka_broker.config, topic, [0], CODEC, 30, _refused)
    assert restored == {0: {"press-1": {"n": 1}}}
