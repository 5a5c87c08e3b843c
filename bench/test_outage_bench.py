"""Broker outage (opt-in while it is a known failure): the broker stops for 20 s mid-run.

Run with ``.venv/bin/python -m pytest bench/test_outage_bench.py -m slow``.
"""

from __future__ import annotations

import time

import pytest

from pipeline.broker.local import BrokerConfig, LocalBroker
from tests.integration.conftest import _shared_cache_dir
from tests.integration.eos_io import assert_outputs_equal, wait_caught_up, wait_ready
from tests.integration.test_exactly_once import group, outputs, shared_input

__all__ = ["group", "outputs", "shared_input"]
pytestmark = [pytest.mark.slow, pytest.mark.integration]


def test_broker_outage(kafka_broker, shared_input, outputs, group):
    """The broker stops for 20 s mid-run: the service recovers by itself, outputs are equal.

    KNOWN FAILURE (kept out of the default suite until fixed): it passed 1 run in 6. In the
    others the service blocks (stack dumps: in ``send_offsets_to_transaction``, whose 30 s
    timeout is not honoured, see librdkafka #5456/#5511) from the moment the broker stops, and
    never resumes after the broker is back.
    """
    service = group.start("outage")
    wait_ready(service)
    time.sleep(2.0)
    assert group.lag() > 0
    broker = LocalBroker(
        BrokerConfig(
            port=int(kafka_broker.bootstrap.rsplit(":", 1)[1]),
            data_dir=kafka_broker.data_dir,
            cache_dir=_shared_cache_dir(),
        )
    )
    assert broker.stop(timeout_s=60)
    try:
        time.sleep(20.0)
        assert service.alive(), service.stderr
    finally:
        broker.start(timeout_s=120)
    wait_caught_up(kafka_broker.bootstrap, group.group, outputs, timeout_s=240)
    assert service.alive(), service.stderr  # recovered without a restart
    assert service.stop() == 0, service.stderr
    assert_outputs_equal(kafka_broker.bootstrap, outputs, shared_input[1])
