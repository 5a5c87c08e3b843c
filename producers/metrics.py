"""A producer's own Prometheus metrics, and serving them on 127.0.0.1.

Examples
--------
>>> from prometheus_client import CollectorRegistry, generate_latest
>>> metrics = ProducerMetrics(CollectorRegistry(), producer="replay")
>>> metrics.readings_sent.inc(3)
>>> b'linewatch_producer_readings_sent_total{producer="replay"} 3.0' in generate_latest(
...     metrics.registry)
True
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click
from prometheus_client import CollectorRegistry, Counter, start_http_server

__all__ = ["ProducerMetrics", "serving_metrics"]


class ProducerMetrics:
    """Counters of what one producer (``simulate``, ``replay``, ...) delivered or failed to.

    Counts come from delivery reports: a record is *sent* once the broker acknowledged it.
    """

    def __init__(self, registry: CollectorRegistry, producer: str) -> None:
        self.registry = registry
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


@contextmanager
def serving_metrics(
    metrics: ProducerMetrics, port: int | None, host: str = "127.0.0.1"
) -> Iterator[str | None]:
    """Serve ``metrics`` on ``host:port`` while the block runs (``port=None``: not at all).

    Yields the URL (port 0 picks a free one) and prints it to stderr.
    """
    if port is None:
        yield None
        return
    server, _ = start_http_server(port, addr=host, registry=metrics.registry)
    try:
        url = f"http://{host}:{server.server_address[1]}/metrics"
        click.echo(f"metrics at {url}", err=True)
        yield url
    finally:
        server.shutdown()
        server.server_close()
