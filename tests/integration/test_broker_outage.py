"""Broker outage: the broker stops for 20 s mid-run; the service recovers by itself.

The service (a child process) runs over 30,000 simulated readings from 20 assets; the local
broker is stopped with SIGTERM soon after the service is ready, and started again 20 s later.
The scores and alerts it committed (read back with ``read_committed``) must equal those of an
uninterrupted run, per asset, message for message: the same check as the crash-equality test.

Before the fix the service blocked for good in ``send_offsets_to_transaction`` in 5 runs of 6
(librdkafka #5456, #5511, see :mod:`pipeline.outputs`).
"""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Iterator

import pytest

from pipeline.broker.local import BrokerConfig, LocalBroker
from pipeline.settings import TopicSettings
from tests.integration.conftest import KafkaBroker, _shared_cache_dir
from tests.integration.eos_io import (
    Expected,
    assert_outputs_equal,
    simulated_input,
    wait_caught_up,
    wait_ready,
)
from tests.integration.test_exactly_once import Instances, group, outputs

__all__ = ["group", "outputs"]
pytestmark = pytest.mark.integration

READINGS = 30_000
SIMULATE = [
    "--assets", "20", "--rate", "200", "--duration", "150", "--seed", "23", "--speed", "0",
    "--start-ts", "1700000000000",
    "--fault", "asset-005:bearing_wear@40",
    "--fault", "asset-013:overheating@50",
    "--fault", "asset-017:imbalance@60",
]  # fmt: skip
OUTAGE_S = 20.0
COMMIT_TIMEOUT_S = 10.0
"""Shorter than the default (30 s), so the service gives up the commit the outage interrupted
(and replaces its producer) while the broker is still away, not after it is back."""


@pytest.fixture(scope="module")
def shared_input(
    kafka_broker: KafkaBroker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TopicSettings, Expected]]:
    """This module's (smaller) input and its reference outputs; ``outputs`` builds on it."""
    with simulated_input(
        kafka_broker,
        tmp_path_factory.mktemp("outage"),
        SIMULATE,
        READINGS,
    ) as made:
        yield made


def test_broker_outage(
    kafka_broker: KafkaBroker,
    shared_input: tuple[TopicSettings, Expected],
    outputs: TopicSettings,
    group: Instances,
) -> None:
    """The broker stops for 20 s mid-run: no restart of the service, the same outputs."""
    group.serve = f"commit_timeout_s = {COMMIT_TIMEOUT_S}"
    service = group.start("outage")
    url = wait_ready(service)
    assert 0 < wait_first_commit(group) < READINGS  # the outage comes mid-run
    broker = LocalBroker(
        BrokerConfig(
            port=int(kafka_broker.bootstrap.rsplit(":", 1)[1]),
            data_dir=kafka_broker.data_dir,
            cache_dir=_shared_cache_dir(),
        )
    )
    assert broker.stop(timeout_s=60)
    try:
        time.sleep(OUTAGE_S)
        assert service.alive(), service.stderr
    finally:
        broker.start(timeout_s=120)
    wait_caught_up(kafka_broker.bootstrap, group.group, outputs, timeout_s=180)
    assert service.alive(), service.stderr  # recovered by itself
    assert aborted_commits(url) >= 1  # the outage interrupted a commit: it was replayed
    assert service.stop() == 0, service.stderr
    assert_outputs_equal(kafka_broker.bootstrap, outputs, shared_input[1])


def wait_first_commit(group: Instances, timeout_s: float = 60.0) -> int:
    """The group's lag once it committed something (so a restore follows the outage)."""
    deadline = time.monotonic() + timeout_s
    while (lag := group.lag()) == READINGS and time.monotonic() < deadline:
        time.sleep(0.2)
    return lag


def aborted_commits(base_url: str) -> float:
    """``linewatch_commits_total{outcome="aborted"}`` of the service at ``base_url``."""
    text = urllib.request.urlopen(base_url + "/metrics", timeout=10).read().decode()
    prefix = 'linewatch_commits_total{outcome="aborted"} '
    return sum(float(line[len(prefix) :]) for line in text.splitlines() if line.startswith(prefix))
