"""Create linewatch's Kafka topics, idempotently.

Every topic gets the same partition count ``N``: the labels must be co-partitioned with the
readings for the per-asset label join, ``linewatch.state`` must match the readings so that a
partition's model snapshots travel with it, and scores, alerts and dead letters follow the same
key (the asset id) for simplicity. ``linewatch.state`` is compacted.

Partition counts of existing topics are never changed (Kafka cannot shrink them, and adding
partitions moves assets to other partitions). When ``sensor.readings`` already exists with ``M``
partitions:

- an explicit ``partitions`` other than ``M`` is a :class:`ConfigError` and nothing is created;
- without ``partitions``, missing topics are created with ``M`` (not ``TopicSettings.partitions``)
  so that they match, and a warning says so.

Other existing topics whose count differs from ``N`` are reported with a warning.
Replication uses the broker's ``default.replication.factor``.
"""

from __future__ import annotations

import logging
import time

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic, TopicMetadata

from pipeline.errors import ConfigError, KafkaTransportError, kafka_error
from pipeline.settings import TopicSettings

__all__ = ["create_topics", "partition_counts", "topic_names"]
logger = logging.getLogger(__name__)

_TIMEOUT_S = 30.0


def topic_names(topics: TopicSettings) -> list[str]:
    """Every topic linewatch uses, readings first and state last.

    Examples
    --------
    >>> topic_names(TopicSettings())[0], topic_names(TopicSettings())[-1]
    ('sensor.readings', 'linewatch.state')
    """
    return [
        topics.readings,
        topics.labels,
        topics.scores,
        topics.alerts,
        topics.deadletter,
        topics.state,
    ]


def partition_counts(client_config: dict[str, str], names: list[str]) -> dict[str, int]:
    """The partition count of each of ``names`` that exists on the cluster."""
    return _partition_counts(AdminClient(client_config), names)


def create_topics(
    client_config: dict[str, str], topics: TopicSettings, partitions: int | None = None
) -> list[str]:
    """Create the missing topics and return their names; existing topics are left alone.

    Parameters
    ----------
    client_config
        librdkafka properties, e.g. ``Settings.client_config()``.
    topics
        The topic names and the default partition count.
    partitions
        Overrides ``topics.partitions``; must agree with an existing ``sensor.readings``.

    Raises
    ------
    ConfigError
        ``partitions`` differs from the count of an existing readings topic.
    KafkaTransportError
        The cluster could not be reached or refused a topic (``code`` is librdkafka's).
    """
    if partitions is not None and partitions < 1:
        raise ValueError(f"partitions must be at least 1, got {partitions}")
    admin = AdminClient(client_config)
    names = topic_names(topics)
    existing = _partition_counts(admin, names)
    count = _choose_partitions(topics, partitions, existing.get(topics.readings))
    _warn_mismatches(existing, count)
    missing = [name for name in names if name not in existing]
    created = _create(admin, [_new_topic(name, count, name == topics.state) for name in missing])
    _wait_until_visible(admin, created)
    for name in created:
        logger.info("created topic", extra={"topic": name, "partitions": count})
    return created


def _partition_counts(admin: AdminClient, names: list[str]) -> dict[str, int]:
    try:
        metadata = admin.list_topics(timeout=_TIMEOUT_S)
    except KafkaException as exc:
        raise KafkaTransportError.from_kafka("could not list topics", exc) from exc
    return {
        name: len(metadata.topics[name].partitions) for name in names if name in metadata.topics
    }


def _choose_partitions(topics: TopicSettings, requested: int | None, readings: int | None) -> int:
    if readings is None:
        return requested if requested is not None else topics.partitions
    if requested is not None and requested != readings:
        raise ConfigError(
            f"{topics.readings} already exists with {readings} partitions, but {requested} were "
            f"asked for; Kafka cannot shrink a topic and adding partitions moves assets, so ask "
            f"for {readings} (or omit the count) or recreate the topics deliberately"
        )
    if requested is None and readings != topics.partitions:
        logger.warning(
            "%s already has %d partitions, not the configured %d: following the existing topic",
            topics.readings,
            readings,
            topics.partitions,
        )
    return readings


def _warn_mismatches(existing: dict[str, int], count: int) -> None:
    for name, actual in existing.items():
        if actual != count:
            logger.warning(
                "topic %s has %d partitions, not %d like the readings: per-asset state and "
                "labels will not line up with the readings' partitions",
                name,
                actual,
                count,
            )


_COMPACTED = {
    "cleanup.policy": "compact",
    # Roll and clean often: a restore reads the partition from its start, so superseded
    # snapshots must not pile up in a week-long active segment.
    "segment.ms": "60000",
    "min.cleanable.dirty.ratio": "0.1",
}


def _new_topic(name: str, partitions: int, compacted: bool) -> NewTopic:
    config = dict(_COMPACTED) if compacted else {}
    return NewTopic(name, num_partitions=partitions, replication_factor=-1, config=config)


def _create(admin: AdminClient, new_topics: list[NewTopic]) -> list[str]:
    if not new_topics:
        return []
    futures = admin.create_topics(
        new_topics, operation_timeout=_TIMEOUT_S, request_timeout=_TIMEOUT_S
    )
    created: list[str] = []
    for name, future in futures.items():
        try:
            future.result()
        except KafkaException as exc:
            error = kafka_error(exc)
            if error is not None and error.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                continue  # created by someone else since we listed the topics
            raise KafkaTransportError.from_kafka(f"could not create topic {name}", exc) from exc
        created.append(name)
    return [topic.topic for topic in new_topics if topic.topic in created]


def _wait_until_visible(admin: AdminClient, names: list[str]) -> None:
    """Return once the broker's metadata has every partition of ``names`` with a leader.

    Created topics reach the broker's metadata cache a moment after the controller confirms
    them; callers (and their producers) may use the topics right away.
    """
    deadline = time.monotonic() + _TIMEOUT_S
    while names and time.monotonic() < deadline:
        try:
            metadata = admin.list_topics(timeout=_TIMEOUT_S).topics
        except KafkaException as exc:
            raise KafkaTransportError.from_kafka("could not list the new topics", exc) from exc
        if all(name in metadata and _has_leaders(metadata[name]) for name in names):
            return
        time.sleep(0.1)


def _has_leaders(topic: TopicMetadata) -> bool:
    return topic.error is None and all(p.leader >= 0 for p in topic.partitions.values())
