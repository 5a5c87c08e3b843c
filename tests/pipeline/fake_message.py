"""A stand-in for a consumed confluent-kafka ``Message``: what the service reads of one."""

from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka import KafkaError


@dataclass
class FakeMessage:
    """A consumed message's value, key, partition and offset (and error, topic)."""

    value_: bytes | None
    key_: bytes | None
    partition_: int | None
    offset_: int
    error_: KafkaError | None = None
    topic_: str = "sensor.readings"

    def value(self) -> bytes | None:
        return self.value_

    def key(self) -> bytes | None:
        return self.key_

    def partition(self) -> int | None:
        return self.partition_

    def offset(self) -> int | None:
        return self.offset_

    def error(self) -> KafkaError | None:
        return self.error_

    def topic(self) -> str | None:
        return self.topic_
