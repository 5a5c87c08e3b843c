"""A dead letter is always an output the producer takes: whatever the rejected message, its
value, key and headers fit the producer's ``message.max.bytes`` (checked by a real
confluent-kafka producer: librdkafka refuses a message too large in ``produce``, before any
broker is involved), and the settings refuse a ``serve.max_message_bytes`` that would not."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, Producer
from prometheus_client import CollectorRegistry

from pipeline.background import BackgroundCommit
from pipeline.emit import MAX_DEAD_LETTER_KEY_BYTES, Emitter
from pipeline.errors import ConfigError
from pipeline.metrics import ServiceMetrics
from pipeline.processor import DeadLetter, Processor, Source
from pipeline.settings import DEAD_LETTER_HEADROOM_BYTES, Settings

_LIMIT = 200_000
"""The producer's ``message.max.bytes`` in these tests (small, to keep them quick)."""


class _Recording:
    """Outputs that keep what is produced, as ``Outputs.produce`` got it."""

    def __init__(self) -> None:
        self.produced: list[tuple[Any, ...]] = []

    def produce(self, *output: Any) -> None:
        self.produced.append(output)


def _emitter(settings: Settings) -> tuple[Emitter, _Recording]:
    outputs = _Recording()
    emitter = Emitter(
        settings.topics,
        outputs,  # type: ignore[arg-type]
        BackgroundCommit(10),
        ServiceMetrics(CollectorRegistry()),
        None,
        max_value_bytes=settings.serve.max_message_bytes,
    )
    return emitter, outputs


@pytest.fixture
def producer() -> Iterator[Producer]:
    """A real producer with ``message.max.bytes`` = :data:`_LIMIT` and no broker."""
    made = Producer(
        {"bootstrap.servers": "127.0.0.1:9", "message.max.bytes": _LIMIT, "log_level": 0}
    )
    yield made
    made.purge()
    made.flush(0)


def _largest_settings() -> Settings:
    """The largest ``serve.max_message_bytes`` the settings allow under :data:`_LIMIT`, with
    the longest topic name Kafka allows for the readings (a header of every dead letter)."""
    return Settings.load(
        None,
        kafka={"message.max.bytes": str(_LIMIT)},
        serve={"max_message_bytes": _LIMIT - DEAD_LETTER_HEADROOM_BYTES},
        topics={"readings": "r" * 249},
    )


def _letter(settings: Settings, value: bytes, key: bytes | None) -> DeadLetter:
    """The processor's dead letter of ``value`` (not a reading: ``oversized`` if longer
    than ``serve.max_message_bytes``, else ``malformed_json``)."""
    source = Source(settings.topics.readings, 2, 41, key)
    outcome = Processor(settings).process(value, source)
    assert outcome.dead_letter is not None
    return outcome.dead_letter


def test_a_rejected_message_within_the_limit_is_dead_lettered_as_it_came() -> None:
    settings = Settings.load(None)
    emitter, outputs = _emitter(settings)
    value = b"{" + b"x" * (settings.serve.max_message_bytes - 1)
    emitter.dead_letter(_letter(settings, value, b"press-07"))
    [(topic, key, produced, headers, partition)] = outputs.produced
    assert (topic, key, produced, partition) == (settings.topics.deadletter, b"press-07", value, -1)
    assert dict(headers)["error.reason"] == b"malformed_json"
    assert not {"error.value_truncated", "error.key_truncated"} & dict(headers).keys()


def test_an_oversized_message_is_cut_at_the_limit_with_its_length_in_a_header() -> None:
    settings = Settings.load(None)
    emitter, outputs = _emitter(settings)
    limit = settings.serve.max_message_bytes
    value, key = bytes(range(256)) * 4000, b"k" * 5000  # 1,024,000 bytes, as a broker may take
    emitter.dead_letter(_letter(settings, value, key))
    [(_, cut_key, cut_value, headers, _)] = outputs.produced
    assert cut_value == value[:limit]
    assert cut_key == key[:MAX_DEAD_LETTER_KEY_BYTES]
    named = dict(headers)
    assert named["error.reason"] == b"oversized"
    assert named["error.value_truncated"] == b"1024000"
    assert named["error.key_truncated"] == b"5000"
    assert (named["source.partition"], named["source.offset"]) == (b"2", b"41")


@pytest.mark.parametrize("value_bytes", [_LIMIT - DEAD_LETTER_HEADROOM_BYTES, 5 * _LIMIT])
def test_the_largest_dead_letter_the_settings_allow_is_one_the_producer_takes(
    producer: Producer, value_bytes: int
) -> None:
    """The longest value kept whole, and a far longer one: with the longest key, topic name
    and error message, librdkafka takes the dead letter."""
    settings = _largest_settings()
    emitter, outputs = _emitter(settings)
    letter = _letter(settings, b"\xff" * value_bytes, b"k" * _LIMIT)
    emitter.dead_letter(
        DeadLetter(letter.value, letter.source, letter.reason, "\u00e9" * _LIMIT, "SomeError")
    )
    [(topic, key, value, headers, partition)] = outputs.produced
    producer.produce(topic, value, key, partition, None, None, 0, headers)  # taken: no raise
    with pytest.raises(KafkaException) as raised:  # the same, uncut: refused
        producer.produce(topic, letter.value, letter.source.key, partition, None, None, 0, headers)
    error = raised.value.args[0]
    assert isinstance(error, KafkaError) and error.code() == KafkaError.MSG_SIZE_TOO_LARGE


@pytest.mark.parametrize(
    ("kafka", "max_message_bytes"),
    [({}, 1_000_000 - DEAD_LETTER_HEADROOM_BYTES + 1), ({"message.max.bytes": "60000"}, 65_536)],
)
def test_a_limit_that_leaves_no_room_for_a_dead_letter_is_a_config_error(
    kafka: dict[str, str], max_message_bytes: int
) -> None:
    with pytest.raises(ConfigError, match="leaves no room for a dead letter"):
        Settings.load(None, kafka=kafka, serve={"max_message_bytes": max_message_bytes})


def test_the_largest_limit_that_leaves_room_loads() -> None:
    largest = 1_000_000 - DEAD_LETTER_HEADROOM_BYTES
    assert Settings.load(None, serve={"max_message_bytes": largest}).serve.max_message_bytes == (
        largest
    )
    with pytest.raises(ConfigError, match="message.max.bytes must be an integer"):
        Settings.load(None, kafka={"message.max.bytes": "1MB"})
