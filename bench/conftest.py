"""Benchmarks reuse the integration fixtures (a real local broker)."""

from __future__ import annotations

from tests.integration.conftest import kafka_broker, topic_settings

__all__ = ["kafka_broker", "topic_settings"]
