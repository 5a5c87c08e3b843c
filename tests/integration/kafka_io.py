"""Helpers for integration tests: run the service as a real process, read topics back."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from confluent_kafka import Consumer, Message, TopicPartition

from pipeline.settings import TopicSettings


def write_config(path: Path, bootstrap: str, topics: TopicSettings, extra: str = "") -> Path:
    """A TOML settings file pointing linewatch at the test broker and topics."""
    lines = [f'bootstrap_servers = "{bootstrap}"', "[topics]"]
    lines += [
        f'{name} = "{value}"'
        for name, value in topics.model_dump().items()
        if isinstance(value, str)
    ]
    lines += [f"partitions = {topics.partitions}", f'[serve]\ngroup_id = "{uuid.uuid4().hex}"']
    path.write_text("\n".join(lines) + "\n" + extra)
    return path


def linewatch(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a child process and return its completed process."""
    return subprocess.run(  # type: ignore[call-overload]
        [sys.executable, "-m", "pipeline", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        **kwargs,
    )


class ServiceProcess:
    """``linewatch serve`` in a child process; ``stop()`` sends SIGTERM and returns its output."""

    def __init__(self, config: Path) -> None:
        self._stderr_path = config.with_suffix(".stderr")
        self._stdout_path = config.with_suffix(".stdout")
        self._outputs = (self._stdout_path.open("w"), self._stderr_path.open("w"))
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pipeline",
                "serve",
                "--config",
                str(config),
                "--metrics-port",
                "0",
            ],
            stdout=self._outputs[0],
            stderr=self._outputs[1],
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    def metrics_url(self, timeout_s: float = 30.0) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = re.search(r"metrics at (http://\S+)", self._stderr_path.read_text())
            if found:
                return found.group(1)
            assert self._process.poll() is None, self.stderr
            time.sleep(0.1)
        raise AssertionError(f"no metrics URL printed: {self.stderr}")

    @property
    def stderr(self) -> str:
        return self._stderr_path.read_text()

    @property
    def stdout(self) -> str:
        return self._stdout_path.read_text()

    def alive(self) -> bool:
        return self._process.poll() is None

    def stop(self, timeout_s: float = 60.0, signum: int = signal.SIGTERM) -> int:
        if self._process.poll() is None:
            self._process.send_signal(signum)
        try:
            return self._process.wait(timeout=timeout_s)
        finally:
            self._close_outputs()

    def kill(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._close_outputs()

    def _close_outputs(self) -> None:
        for handle in self._outputs:
            handle.close()


def read_all(bootstrap: str, topic: str, expected: int, timeout_s: float = 120.0) -> list[Message]:
    """Read ``topic`` from the start (read_committed) until ``expected`` messages or time out.

    Anything beyond ``expected`` that is already there is returned too.
    """
    config = {"bootstrap.servers": bootstrap}
    return read_committed(config, topic, expected, timeout_s, drain_extra=True)


def read_committed(
    config: dict[str, str], topic: str, expected: int, timeout_s: float, drain_extra: bool
) -> list[Message]:
    """Read ``topic`` from the start with ``config`` until ``expected`` messages or time out;
    with ``drain_extra``, one more poll returns what is already there beyond ``expected``."""
    consumer = Consumer(
        {
            **config,
            "group.id": f"reader-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
    )
    consumer.subscribe([topic])
    messages: list[Message] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(messages) < expected and time.monotonic() < deadline:
            for message in consumer.consume(1000, 0.5):
                assert message.error() is None, message.error()
                messages.append(message)
        if drain_extra:
            messages.extend(consumer.consume(1000, 1.0))
    finally:
        consumer.close()
    return messages


def committed_lag(bootstrap: str, group_id: str, topic: str, partitions: int) -> int:
    """Messages in ``topic`` not yet covered by ``group_id``'s committed offsets."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group_id})
    try:
        parts = [TopicPartition(topic, p) for p in range(partitions)]
        committed = consumer.committed(parts, timeout=10)
        lag = 0
        for part in committed:
            _, high = consumer.get_watermark_offsets(part, timeout=10)
            lag += high - max(part.offset, 0)
        return lag
    finally:
        consumer.close()
