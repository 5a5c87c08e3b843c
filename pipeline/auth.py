"""Fail fast when Kafka refuses the connection (wrong SASL credentials, TLS trouble).

librdkafka reports an authentication failure through the clients' ``error_cb`` and then keeps
retrying; :class:`AuthWatch` is that callback: it remembers the failure, and :meth:`check`
turns it into a :class:`ConfigError` with a message that says what to fix.

Examples
--------
>>> from confluent_kafka import KafkaError
>>> watch = AuthWatch()
>>> watch(KafkaError(KafkaError._AUTHENTICATION, "SASL authentication error: invalid credentials"))
>>> watch.check()
Traceback (most recent call last):
...
pipeline.errors.ConfigError: Kafka refused the connection: SASL authentication error: ...
"""

from __future__ import annotations

import logging

from confluent_kafka import KafkaError

from pipeline.errors import ConfigError

__all__ = ["AuthWatch"]
logger = logging.getLogger(__name__)

_REFUSED = frozenset(
    {
        KafkaError._AUTHENTICATION,
        KafkaError._SSL,
        KafkaError.SASL_AUTHENTICATION_FAILED,
        KafkaError.UNSUPPORTED_SASL_MECHANISM,
        KafkaError.ILLEGAL_SASL_STATE,
    }
)


class AuthWatch:
    """An ``error_cb`` for Kafka clients that remembers authentication failures."""

    def __init__(self) -> None:
        self.refused: str | None = None
        self.brokers_down = False
        """Set when a client lost every broker; the service resets it once it has reacted."""

    def __call__(self, error: KafkaError) -> None:
        if error.code() in _REFUSED:
            self.refused = error.str()
            logger.error("Kafka refused the connection: %s", error.str())
        else:
            if error.code() == KafkaError._ALL_BROKERS_DOWN:
                self.brokers_down = True
            logger.warning("kafka client: %s", error.str())

    def check(self) -> None:
        """Raise :class:`ConfigError` if a client was refused."""
        if self.refused is not None:
            raise ConfigError(
                f"Kafka refused the connection: {self.refused}. Check the credentials and TLS "
                'settings in `kafka` (e.g. LINEWATCH_KAFKA=\'{"sasl.username": ..., '
                '"sasl.password": ...}\')'
            )
