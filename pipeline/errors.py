"""The errors linewatch raises, one tree so callers can catch what they handle.

::

    PipelineError
    ├── ConfigError          fail at start-up: bad settings, missing tool (JDK, Maven)
    ├── DecodeError          skip the message, dead-letter it with the reason, count it
    ├── DatasetError         a file given to detect/evaluate/report cannot be read; say which
    ├── SnapshotRefused      a state snapshot's signature failed: log, count, never unpickle
    ├── BrokerError          the local development broker could not be fetched/started/stopped
    │   ├── BrokerAlreadyRunning
    │   └── PortInUse
    └── KafkaTransportError  a Kafka client call failed; keeps the librdkafka error code
        └── DeliveryError    a produced message was not acknowledged by the broker

Each name says what the caller does next. Programmer errors stay ValueError/TypeError.
"""

from __future__ import annotations

from confluent_kafka import KafkaError, KafkaException

__all__ = [
    "BrokerAlreadyRunning",
    "BrokerError",
    "ConfigError",
    "DatasetError",
    "DecodeError",
    "DeliveryError",
    "KafkaTransportError",
    "PipelineError",
    "PortInUse",
    "SnapshotRefused",
    "kafka_error",
]


class PipelineError(Exception):
    """Base class of every error linewatch raises on purpose."""


class ConfigError(PipelineError):
    """Settings or the environment are unusable; fail at start-up with this message."""


class DecodeError(PipelineError):
    """A message could not be turned into a valid record.

    ``reason`` is a short, stable code (``malformed_json``, ``missing_field``, ``wrong_type``,
    ``non_finite``, ``out_of_range``, ``oversized``, ``bad_timestamp``, ``unknown_asset``,
    ``out_of_order``, ``duplicate``) suitable for a metric label; the message says what exactly
    was wrong.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class DatasetError(PipelineError):
    """A data file or labels file for ``detect``/``evaluate``/``report`` is missing or malformed."""


class SnapshotRefused(PipelineError):
    """A model snapshot is not signed with the configured key (or was altered): not loaded."""


class BrokerError(PipelineError):
    """The local development broker could not be fetched, started or stopped."""


class BrokerAlreadyRunning(BrokerError):
    """A broker started by linewatch already runs on that data directory."""


class PortInUse(BrokerError):
    """The port the broker should listen on is taken by another process."""


def kafka_error(exc: KafkaException) -> KafkaError | None:
    """The librdkafka error a confluent-kafka exception carries (``None`` if it has none)."""
    error = exc.args[0] if exc.args else None
    return error if isinstance(error, KafkaError) else None


class KafkaTransportError(PipelineError):
    """A Kafka client call failed. ``code`` keeps librdkafka's error code when there is one."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code

    @classmethod
    def from_kafka(cls, what: str, exc: KafkaException) -> KafkaTransportError:
        """Wrap a confluent-kafka exception, keeping librdkafka's error code and text."""
        error = kafka_error(exc)
        if error is not None:
            return cls(f"{what}: {error.str()}", code=error.code())
        return cls(f"{what}: {exc}")


class DeliveryError(KafkaTransportError):
    """The broker did not acknowledge a produced message."""
