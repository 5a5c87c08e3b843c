"""Fixtures for tests against a real local Kafka broker.

Use them in any integration test (mark it ``pytest.mark.integration``)::

    @pytest.mark.integration
    def test_roundtrip(kafka_broker, topic_settings):
        producer = Producer(kafka_broker.config)
        producer.produce(topic_settings.readings, key=b"press-07", value=b"...")

``kafka_broker`` (session)
    One :class:`~pipeline.broker.local.LocalBroker` for the whole run, on a free port, with its
    data dir under pytest's temporary directory and the jars in the shared cache
    (``~/.cache/linewatch`` or ``LINEWATCH_CACHE_DIR``), so they are fetched once per machine.
    Gives a :class:`KafkaBroker`: ``.bootstrap`` (``"127.0.0.1:PORT"``), ``.config``
    (``{"bootstrap.servers": ...}``, a fresh dict each time, to extend for a client),
    ``.data_dir``, ``.log_path`` and ``.jars_dir``. Stopped at the end of the session. Topics
    are not auto-created: create what you use, or use ``topic_settings``.
``topic_settings`` (function)
    A :class:`~pipeline.settings.TopicSettings` whose six topic names end in a unique suffix,
    already created on ``kafka_broker`` with 3 partitions (state compacted) by
    :func:`pipeline.topics.create_topics`; deleted after the test.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from pipeline.broker.local import BrokerConfig, LocalBroker, default_cache_dir
from pipeline.broker.process import free_port
from pipeline.settings import TopicSettings
from pipeline.topics import create_topics, topic_names

__all__ = ["KafkaBroker"]


@dataclass(frozen=True)
class KafkaBroker:
    """The running test broker: where to connect, and where its files are."""

    bootstrap: str
    data_dir: Path
    log_path: Path
    jars_dir: Path
    """The directory of the Kafka jars the broker runs from, whose admin tools a test may run
    (:meth:`~pipeline.broker.local.LocalBroker.ensure_jars`)."""

    @property
    def config(self) -> dict[str, str]:
        """librdkafka properties to start a client from (a new dict on every access)."""
        return {"bootstrap.servers": self.bootstrap}


def _shared_cache_dir() -> Path:
    """The jar cache integration tests share with the CLI: ``LINEWATCH_CACHE_DIR`` or default."""
    configured = os.environ.get("LINEWATCH_CACHE_DIR")
    return Path(configured) if configured else default_cache_dir()


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    """A local Kafka broker for the whole test session (see the module docstring)."""
    config = BrokerConfig(
        port=free_port("127.0.0.1"),
        data_dir=tmp_path_factory.mktemp("kafka-broker"),
        cache_dir=_shared_cache_dir(),
    )
    local = LocalBroker(config)
    status = local.start(timeout_s=120)
    assert status.bootstrap is not None
    try:
        yield KafkaBroker(status.bootstrap, config.data_dir, config.log_path, local.ensure_jars())
    finally:
        local.stop()


@pytest.fixture
def topic_settings(kafka_broker: KafkaBroker) -> Iterator[TopicSettings]:
    """Unique topic names for one test, created with 3 partitions (see the module docstring)."""
    suffix = uuid.uuid4().hex[:10]
    defaults = TopicSettings()
    names = {field: f"{getattr(defaults, field)}.{suffix}" for field in _TOPIC_FIELDS}
    topics = TopicSettings(**names, partitions=3)
    create_topics(kafka_broker.config, topics)
    yield topics
    admin = AdminClient(kafka_broker.config)
    for future in admin.delete_topics(topic_names(topics), operation_timeout=30).values():
        future.exception()  # best effort: wait, but a failed delete does not fail the test


_TOPIC_FIELDS = ("readings", "labels", "scores", "alerts", "deadletter", "state")
