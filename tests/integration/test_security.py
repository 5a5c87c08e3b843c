"""Secure access: a SCRAM-protected broker, refused credentials, tampered snapshots."""

from __future__ import annotations

import os
import pickle
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Producer

from pipeline.broker.local import BrokerConfig, LocalBroker
from pipeline.broker.process import free_port
from pipeline.messages import Reading, encode
from pipeline.settings import TopicSettings
from pipeline.state import PLAIN_MAGIC, SnapshotCodec
from pipeline.topics import create_topics
from tests.integration.conftest import KafkaBroker, _shared_cache_dir
from tests.integration.eos_io import (
    HMAC_KEY,
    metric,
    read_with,
    wait_caught_up,
    wait_ready,
    write_service_config,
)
from tests.integration.kafka_io import ServiceProcess, linewatch, read_all

pytestmark = pytest.mark.integration

USER, PASSWORD = "linewatch", "right-Pa55word"


@pytest.fixture(scope="module")
def scram_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerConfig]:
    """A second local broker whose client port requires SASL/SCRAM-SHA-256."""
    config = BrokerConfig(
        port=free_port("127.0.0.1"),
        data_dir=tmp_path_factory.mktemp("scram-broker"),
        cache_dir=_shared_cache_dir(),
        sasl_username=USER,
        sasl_password=PASSWORD,
    )
    local = LocalBroker(config)
    local.start(timeout_s=120)
    try:
        yield local.config
    finally:
        local.stop()


def _topics() -> TopicSettings:
    suffix = uuid.uuid4().hex[:8]
    defaults = TopicSettings()
    names = ("readings", "labels", "scores", "alerts", "deadletter", "state")
    return TopicSettings(**{n: f"{getattr(defaults, n)}.{suffix}" for n in names}, partitions=3)


def _kafka(config: BrokerConfig, password: str) -> dict[str, str]:
    client = {k: v for k, v in config.client_config.items() if k != "bootstrap.servers"}
    return client | {"sasl.password": password}


def _wait_exit(service: ServiceProcess, timeout_s: float) -> int:
    deadline = time.monotonic() + timeout_s
    while service.alive() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not service.alive(), "still running with wrong credentials"
    return service.stop()


class TestScram:
    def test_service_and_simulator_work_with_the_right_credentials(self, scram_broker, tmp_path):
        topics = _topics()
        create_topics(scram_broker.client_config, topics)
        config = write_service_config(
            tmp_path / "right.toml",
            scram_broker.bootstrap,
            topics,
            f"sec-{uuid.uuid4().hex[:6]}",
            "right",
            kafka=_kafka(scram_broker, PASSWORD),
        )
        args = ["--assets", "2", "--rate", "100", "--duration", "5", "--speed", "0"]
        sent = linewatch("simulate", "--config", str(config), *args)
        assert sent.returncode == 0, sent.stderr
        service = ServiceProcess(config)
        try:
            wait_ready(service)
            scores = read_with(scram_broker.client_config, topics.scores, 500)
        finally:
            assert service.stop() == 0, service.stderr
        assert len(scores) == 500

    def test_wrong_credentials_stop_with_a_clear_error(self, scram_broker, tmp_path):
        topics = _topics()
        config = write_service_config(
            tmp_path / "wrong.toml",
            scram_broker.bootstrap,
            topics,
            "sec-wrong",
            "wrong",
            kafka=_kafka(scram_broker, "not-the-password"),
        )
        service = ServiceProcess(config)
        assert _wait_exit(service, 60) != 0
        assert "Kafka refused the connection" in service.stderr
        assert "Authentication failed" in service.stderr
        sent = linewatch("simulate", "--config", str(config), "--assets", "1", "--duration", "1")
        assert sent.returncode != 0
        assert "Kafka refused the connection" in sent.stderr

    def test_plain_clients_cannot_use_the_scram_broker(self, scram_broker):
        producer = Producer({"bootstrap.servers": scram_broker.bootstrap})
        producer.produce("anything", b"x")
        assert producer.flush(3) == 1  # never delivered without credentials


class _Exploit:
    """A pickle that would create a directory if it were ever unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.mkdir, (str(self.marker),))


def test_tampered_snapshots_are_refused_and_never_unpickled(
    kafka_broker: KafkaBroker, topic_settings: TopicSettings, tmp_path: Path
):
    producer = Producer({**kafka_broker.config, "enable.idempotence": True})
    for i in range(600):
        reading = Reading(f"press-{i % 3}", 1_700_000_000_000 + i * 10, {"vib": 1.0 + i % 7})
        producer.produce(topic_settings.readings, encode(reading), reading.asset.encode())
    assert producer.flush(30) == 0
    group = f"tamper-{uuid.uuid4().hex[:6]}"
    config = write_service_config(
        tmp_path / "tamper.toml", kafka_broker.bootstrap, topic_settings, group, "tamper"
    )
    first = ServiceProcess(config)
    wait_ready(first)
    wait_caught_up(kafka_broker.bootstrap, group, topic_settings)
    assert first.stop() == 0, first.stderr

    snapshots = {
        m.key() or b"": m for m in read_all(kafka_broker.bootstrap, topic_settings.state, 3)
    }
    assert sorted(snapshots) == [b"press-0", b"press-1", b"press-2"]
    marker = tmp_path / "pwned"
    evil = pickle.dumps(_Exploit(marker))  # the uncompressed form small snapshots take
    flipped = bytearray(snapshots[b"press-0"].value() or b"")
    flipped[-1] ^= 0x01
    tampered = {
        b"press-0": bytes(flipped),  # one bit changed
        b"press-1": PLAIN_MAGIC + bytes(32) + evil,  # a code-running pickle, unsigned
        b"press-2": SnapshotCodec(b"not-" + HMAC_KEY.encode()).encode("press-2", {"x": 1}),
    }
    for key, value in tampered.items():
        partition = snapshots[key].partition()
        producer.produce(topic_settings.state, value, key, partition=partition)
    assert producer.flush(30) == 0

    second = ServiceProcess(config.rename(tmp_path / "tamper-2.toml"))
    try:
        url = wait_ready(second)
        assert metric(url, "linewatch_snapshots_refused_total") == 3
        assert second.alive()
    finally:
        assert second.stop() == 0, second.stderr
    assert not marker.exists()
    for asset in (b"press-0", b"press-1", b"press-2"):
        assert f"refused state snapshot of asset '{asset.decode()}'" in second.stderr
    assert "bad signature" in second.stderr
