"""Prometheus metrics of the producers, built against an injected ``CollectorRegistry``.

Every producer (simulator, replay, bridges) counts with the same names, so one dashboard panel
covers them all: ``linewatch_producer_readings_sent_total`` (acknowledged by Kafka),
``linewatch_producer_delivery_errors_total`` (not acknowledged) and
``linewatch_producer_deadletters_total`` (input that could not become a reading, by reason).

Examples
--------
>>> from prometheus_client import CollectorRegistry
>>> registry = CollectorRegistry()
>>> metrics = ProducerMetrics(registry, producer="mqtt")
>>> metrics.readings_sent.inc(2); metrics.deadletter("malformed_json")
>>> registry.get_sample_value("linewatch_producer_readings_sent_total", {"producer": "mqtt"})
2.0
>>> registry.get_sample_value(
...     "linewatch_producer_deadletters_total", {"producer": "mqtt", "reason": "malformed_json"})
1.0
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, start_http_server

__all__ = ["ProducerMetrics", "serve_metrics"]


class ProducerMetrics:
    """The counters of one producer, labelled with its kind (``producer="mqtt"``)."""

    def __init__(self, registry: CollectorRegistry, producer: str) -> None:
        labels = {"producer": producer}
        self._sent = Counter(
            "linewatch_producer_readings_sent",
            "Readings the producer published and Kafka acknowledged.",
            ["producer"],
            registry=registry,
        )
        self._errors = Counter(
            "linewatch_producer_delivery_errors",
            "Messages Kafka did not acknowledge (after librdkafka's own retries).",
            ["producer"],
            registry=registry,
        )
        self._deadletters = Counter(
            "linewatch_producer_deadletters",
            "Source messages sent to the dead-letter topic instead of becoming readings.",
            ["producer", "reason"],
            registry=registry,
        )
        self.readings_sent = self._sent.labels(**labels)
        self.delivery_errors = self._errors.labels(**labels)
        self._producer = producer

    def deadletter(self, reason: str) -> None:
        """Count one dead letter with a bounded ``reason`` code (a DecodeError reason)."""
        self._deadletters.labels(producer=self._producer, reason=reason).inc()


@contextmanager
def serve_metrics(registry: CollectorRegistry, host: str, port: int | None) -> Iterator[str | None]:
    """Serve ``/metrics`` on ``host:port`` while the block runs (``None``: no endpoint).

    Yields the URL (port 0 picks a free one) or ``None``.
    """
    if port is None:
        yield None
        return
    server, thread = start_http_server(port, addr=host, registry=registry)
    try:
        bound_host, bound_port = str(server.server_address[0]), server.server_address[1]
        yield f"http://{bound_host}:{bound_port}/metrics"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
