"""A producer's own Prometheus metrics, and serving them on 127.0.0.1.

Every producer (simulate, replay, the bridges) counts with the same names and a ``producer``
label, so one dashboard panel covers them all: ``linewatch_producer_readings_sent_total``
(acknowledged by Kafka), ``linewatch_producer_labels_sent_total``,
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

import click
from prometheus_client import CollectorRegistry, Counter, start_http_server

__all__ = ["ProducerMetrics", "serve_metrics", "serving_metrics"]


class ProducerMetrics:
    """Counters of what one producer delivered, failed to deliver, or dead-lettered.

    Counts come from delivery reports: a record is *sent* once the broker acknowledged it.
    """

    def __init__(self, registry: CollectorRegistry, producer: str) -> None:
        self.registry = registry
        self._producer = producer
        labels = ("producer",)
        self.readings_sent = Counter(
            "linewatch_producer_readings_sent",
            "Readings the broker acknowledged.",
            labels,
            registry=registry,
        ).labels(producer)
        self.labels_sent = Counter(
            "linewatch_producer_labels_sent",
            "Ground-truth labels the broker acknowledged.",
            labels,
            registry=registry,
        ).labels(producer)
        self.delivery_errors = Counter(
            "linewatch_producer_delivery_errors",
            "Records whose delivery failed after the producer's retries.",
            labels,
            registry=registry,
        ).labels(producer)
        self._deadletters = Counter(
            "linewatch_producer_deadletters",
            "Source messages sent to the dead-letter topic instead of becoming readings.",
            ["producer", "reason"],
            registry=registry,
        )

    def deadletter(self, reason: str) -> None:
        """Count one dead letter with a bounded ``reason`` code (a DecodeError reason)."""
        self._deadletters.labels(producer=self._producer, reason=reason).inc()


@contextmanager
def serving_metrics(
    metrics: ProducerMetrics, port: int | None, host: str = "127.0.0.1"
) -> Iterator[str | None]:
    """Serve ``metrics`` on ``host:port`` while the block runs (``port=None``: not at all).

    Yields the URL (port 0 picks a free one) and prints it to stderr.
    """
    with serve_metrics(metrics.registry, host, port) as url:
        if url is not None:
            click.echo(f"metrics at {url}", err=True)
        yield url


@contextmanager
def serve_metrics(registry: CollectorRegistry, host: str, port: int | None) -> Iterator[str | None]:
    """Serve ``/metrics`` of ``registry`` on ``host:port`` while the block runs.

    ``port=None`` serves nothing and yields ``None``; otherwise yields the URL (port 0 picks a
    free one).
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
