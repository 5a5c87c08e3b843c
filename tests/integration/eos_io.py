"""Helpers for the exactly-once tests: one shared input, its reference outputs, fresh outputs.

The input (readings from the simulator, 20 assets) is produced once per module; its reference
outputs come from running :class:`Processor` over each partition in offset order, which is
what an uninterrupted service computes. Each test then runs the real service (child processes)
against fresh output and state topics and compares what it committed, per asset, message for
message.
"""

from __future__ import annotations

import concurrent.futures
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition
from confluent_kafka.admin import AdminClient

from pipeline.broker.jars import require_tool
from pipeline.messages import encode
from pipeline.processor import Processor, Source
from pipeline.settings import Settings, TopicSettings
from pipeline.topics import create_topics, topic_names
from tests.integration.conftest import KafkaBroker
from tests.integration.kafka_io import (
    ServiceProcess,
    committed_lag,
    linewatch,
    read_all,
    read_committed,
)

HMAC_KEY = "test-snapshot-key"
MODEL = """
[model]
kind = "hst"
n_trees = 4
height = 6
window_size = 100
calibration_window = 300
[alerts]
warmup = 300
"""


def write_service_config(
    path: Path,
    bootstrap: str,
    topics: TopicSettings,
    group: str,
    instance: str,
    serve: str = "",
    kafka: dict[str, str] | None = None,
    hmac_key: str = HMAC_KEY,
    extra: str = "",
) -> Path:
    """A TOML settings file for one service instance (small model, fast commits).

    ``extra`` is appended (more sections, e.g. ``[supervised]``).
    """
    lines = [f'bootstrap_servers = "{bootstrap}"']
    if kafka:
        lines.append("[kafka]")
        lines += [f'"{name}" = "{value}"' for name, value in kafka.items()]
    lines.append("[topics]")
    lines += [f'{k} = "{v}"' for k, v in topics.model_dump().items() if isinstance(v, str)]
    lines += [f"partitions = {topics.partitions}", "[serve]", f'group_id = "{group}"']
    lines += [f'instance_id = "{instance}"', "commit_interval_s = 0.5", serve]
    lines += ["[state]", f'hmac_key = "{hmac_key}"']
    path.write_text("\n".join(lines) + "\n" + MODEL + extra)
    return path


def limit_consumption(broker: KafkaBroker, client_id: str, bytes_per_s: int | None) -> None:
    """Have the broker throttle fetches of clients named ``client_id`` to ``bytes_per_s``
    together, or no longer (``None``): a Kafka client quota, set with the broker's own
    ``kafka-configs`` tool since librdkafka has no admin call for quotas. A group then drains
    an input no faster than that on any machine."""
    java = require_tool("java", "a client quota is set with Kafka's own tool")
    change = (
        ["--add-config", f"consumer_byte_rate={bytes_per_s}"]
        if bytes_per_s is not None
        else ["--delete-config", "consumer_byte_rate"]
    )
    command = [
        java, "-cp", str(broker.jars_dir / "*"), "kafka.admin.ConfigCommand",
        "--bootstrap-server", broker.bootstrap, "--alter", *change,
        "--entity-type", "clients", "--entity-name", client_id,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


@contextmanager
def simulated_input(
    broker: KafkaBroker,
    workdir: Path,
    simulate: list[str],
    readings: int,
    *,
    labels: int = 0,
    partitions: int = 3,
    extra: str = "",
) -> Iterator[tuple[TopicSettings, Expected]]:
    """New topics holding ``linewatch simulate *simulate`` and its reference outputs, deleted
    on leaving (a module fixture's input).

    ``labels``: how many labels the simulation sends (read back and held by the reference);
    ``extra``: more settings for the reference's processor (see :func:`write_service_config`).
    """
    config, bootstrap = broker.config, broker.bootstrap
    suffix = uuid.uuid4().hex[:8]
    defaults = TopicSettings()
    names = ("readings", "labels", "scores", "alerts", "deadletter", "state")
    topics = TopicSettings(
        **{name: f"{getattr(defaults, name)}.eos.{suffix}" for name in names},
        partitions=partitions,
    )
    create_topics(config, topics)
    path = write_service_config(
        workdir / "input.toml", bootstrap, topics, "unused", "unused", extra=extra
    )
    sent = linewatch("simulate", "--config", str(path), *simulate)
    assert sent.returncode == 0, sent.stderr
    messages = read_all(bootstrap, topics.readings, readings)
    assert len(messages) == readings
    held = read_all(bootstrap, topics.labels, labels) if labels else []
    assert len(held) == labels
    expected = reference(Settings.load(path), messages, held)
    assert sum(len(v) for v in expected.alerts.values()) >= 2
    yield topics, expected
    delete_topics(config, topic_names(topics))


def fresh_outputs(config: dict[str, str], topics: TopicSettings) -> TopicSettings:
    """Same readings and labels, new (created) scores, alerts, dead letters and state topics."""
    suffix = uuid.uuid4().hex[:8]
    outputs = topics.model_copy(
        update={
            name: f"{getattr(topics, name)}.{suffix}"
            for name in ("scores", "alerts", "deadletter", "state")
        }
    )
    create_topics(config, outputs)
    return outputs


def delete_topics(config: dict[str, str], names: list[str]) -> None:
    """Delete topics, best effort: wait at most a minute, ignore failures.

    The admin client stays referenced until its futures are done: an AdminClient dropped
    while its requests are in flight can leave them unanswered for ever
    (confluent-kafka-python issues 541 and 1298), which hung a CI teardown for 300 s.
    """
    admin = AdminClient(config)
    futures = admin.delete_topics(names, operation_timeout=30)
    concurrent.futures.wait(futures.values(), timeout=60)


@dataclass
class Expected:
    """The reference outputs of the shared input, per asset in order."""

    readings: int
    scores: dict[str, list[bytes]]
    alerts: dict[str, list[bytes]]


def reference(
    settings: Settings, messages: list[Message], labels: Sequence[Message] = ()
) -> Expected:
    """What an uninterrupted service outputs for ``messages`` (and ``labels``, held)."""
    processor = Processor(settings)
    scores: dict[str, list[bytes]] = defaultdict(list)
    alerts: dict[str, list[bytes]] = defaultdict(list)
    for label in sorted(labels, key=lambda m: (m.partition() or 0, m.offset() or 0)):
        source = Source(
            label.topic() or "", label.partition() or 0, label.offset() or 0, label.key()
        )
        processor.hold_label(label.value(), source)
    ordered = sorted(messages, key=lambda m: (m.partition() or 0, m.offset() or 0))
    for message in ordered:
        source = Source(
            message.topic() or "", message.partition() or 0, message.offset() or 0, message.key()
        )
        outcome = processor.process(message.value(), source)
        if outcome.score is not None:
            scores[outcome.score.asset].append(encode(outcome.score))
        for alert in (outcome.alert, outcome.fault_alert):
            if alert is not None:
                alerts[alert.asset].append(encode(alert))
    return Expected(len(messages), dict(scores), dict(alerts))


def by_asset(messages: list[Message]) -> dict[str, list[bytes]]:
    """Message values grouped by key (the asset), in the order read (per partition)."""
    grouped: dict[str, list[bytes]] = defaultdict(list)
    for message in sorted(messages, key=lambda m: (m.partition() or 0, m.offset() or 0)):
        grouped[(message.key() or b"").decode()].append(message.value() or b"")
    return dict(grouped)


def assert_outputs_equal(bootstrap: str, topics: TopicSettings, expected: Expected) -> None:
    """Scores and alerts committed on ``topics`` equal ``expected``, message for message."""
    scores = read_all(bootstrap, topics.scores, expected.readings, timeout_s=60)
    n_alerts = sum(len(v) for v in expected.alerts.values())
    alerts = read_all(bootstrap, topics.alerts, n_alerts, timeout_s=20)
    assert len(scores) == expected.readings
    got = by_asset(scores)
    assert sorted(got) == sorted(expected.scores)
    for asset, values in expected.scores.items():
        assert got[asset] == values, f"scores of {asset} differ"
    assert by_asset(alerts) == expected.alerts


def wait_ready(service: ServiceProcess, timeout_s: float = 60.0) -> str:
    """Wait until ``/readyz`` answers 200; return the base URL."""
    base = service.metrics_url(timeout_s).removesuffix("/metrics")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert service.alive(), service.stderr
        try:
            with urllib.request.urlopen(base + "/readyz", timeout=5) as response:
                if response.status == 200:
                    return base
        except urllib.error.HTTPError as exc:
            assert exc.code == 503
        time.sleep(0.1)
    raise AssertionError(f"not ready in {timeout_s}s: {service.stderr}")


def wait_caught_up(
    bootstrap: str, group: str, topics: TopicSettings, timeout_s: float = 120.0
) -> None:
    """Wait until ``group`` has committed every reading."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if committed_lag(bootstrap, group, topics.readings, topics.partitions) == 0:
                return
        except KafkaException:
            pass  # e.g. the coordinator is still loading after a broker restart
        time.sleep(0.5)
    raise AssertionError(f"group {group} did not catch up in {timeout_s}s")


def output_topic_names(topics: TopicSettings) -> list[str]:
    """The topics :func:`fresh_outputs` created."""
    return [name for name in topic_names(topics) if name not in (topics.readings, topics.labels)]


def metric(url: str, name: str) -> float:
    """The sum of a metric's samples at ``url`` (``/metrics`` is appended to a base URL)."""
    url = url if url.endswith("/metrics") else url + "/metrics"
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def read_with(
    config: dict[str, str], topic: str, expected: int, timeout_s: float = 60.0
) -> list[Message]:
    """Like :func:`read_all`, with a full client config (e.g. SASL credentials)."""
    return read_committed(config, topic, expected, timeout_s, drain_extra=False)


def topic_size(bootstrap: str, topic: str, partitions: int) -> int:
    """Offsets written to ``topic`` (messages, for a topic without transaction markers)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": uuid.uuid4().hex})
    try:
        return sum(
            consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in range(partitions)
        )
    finally:
        consumer.close()
