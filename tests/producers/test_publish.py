"""Delivery failures are counted, reported and bounded in memory (no broker listens here)."""

from __future__ import annotations

import urllib.request

import pytest
from prometheus_client import CollectorRegistry

from pipeline.broker.process import free_port
from pipeline.errors import DeliveryError
from pipeline.messages import Reading
from producers.metrics import ProducerMetrics, serving_metrics
from producers.publish import KafkaPublisher


def test_failed_deliveries_are_counted_reported_and_memory_stays_bounded():
    metrics = ProducerMetrics(CollectorRegistry(), producer="test")
    config = {
        "bootstrap.servers": f"127.0.0.1:{free_port('127.0.0.1')}",  # nothing listens
        "queue.buffering.max.messages": "4",
        "message.timeout.ms": "800",
    }
    publisher = KafkaPublisher(config, "readings", "labels", metrics=metrics)
    queued = []
    for seq in range(20):
        publisher.publish(Reading("asset-000", 1000 + seq, {"v": 1.0}, seq=seq))
        queued.append(len(publisher._producer))
    assert max(queued) <= 2 * 4  # queued messages, plus their reports not yet served
    with pytest.raises(DeliveryError, match="20 messages failed; first error"):
        publisher.flush(10)
    publisher.close()
    assert publisher.failed == 20 and publisher.delivered == 0
    assert metrics.delivery_errors._value.get() == 20  # type: ignore[attr-defined]
    assert metrics.readings_sent._value.get() == 0  # type: ignore[attr-defined]


def test_publish_many_waits_for_a_full_queue_like_publish():
    config = {
        "bootstrap.servers": f"127.0.0.1:{free_port('127.0.0.1')}",  # nothing listens
        "queue.buffering.max.messages": "4",
        "message.timeout.ms": "800",
    }
    publisher = KafkaPublisher(config, "readings", "labels")
    publisher.publish_many([Reading("asset-000", 1000 + seq, {"v": 1.0}) for seq in range(20)])
    assert len(publisher._producer) <= 2 * 4  # the rest waited for room, none was dropped
    with pytest.raises(DeliveryError, match="20 messages failed; first error"):
        publisher.flush(10)
    publisher.close()
    assert publisher.failed == 20


def test_metrics_are_served_on_localhost_with_the_agreed_names():
    metrics = ProducerMetrics(CollectorRegistry(), producer="simulate")
    metrics.readings_sent.inc(5)
    with serving_metrics(metrics, port=0) as url:
        assert url is not None and url.startswith("http://127.0.0.1:")
        text = urllib.request.urlopen(url, timeout=10).read().decode()
    assert 'linewatch_producer_readings_sent_total{producer="simulate"} 5.0' in text
    assert 'linewatch_producer_delivery_errors_total{producer="simulate"} 0.0' in text


def test_metrics_are_off_without_a_port():
    with serving_metrics(ProducerMetrics(CollectorRegistry(), "x"), port=None) as url:
        assert url is None
