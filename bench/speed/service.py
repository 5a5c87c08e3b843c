"""Arms (c) and (d): the real ``linewatch serve`` in a child process draining the input.

The service runs from a generated TOML settings file: the shared readings topic, its own
scores/alerts/dead-letter/state topics and consumer group, the chosen ``model.kind`` and
``serve.processing``, and (unless ``snapshots=False``) a ``state.hmac_key``, so it snapshots
its models at every commit as it would in production. Everything else is linewatch's default.
It is ready when ``/readyz`` answers 200 (partitions assigned, state restored).
"""

from __future__ import annotations

import re
import secrets
import sys
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import Message

from bench.speed import topics
from bench.speed.arms import REPO, BenchInput, finish
from bench.speed.runner import ArmResult, Child, drain
from pipeline.settings import Settings, TopicSettings
from pipeline.topics import create_topics, topic_names

__all__ = ["ServiceRun", "run_service_arm", "start_service", "write_config"]


@dataclass(frozen=True)
class ServiceRun:
    """How to run linewatch for one arm."""

    name: str
    kind: str
    processing: str
    snapshots: bool = True


def write_config(
    path: Path,
    bootstrap: str,
    names: TopicSettings,
    run: ServiceRun,
    commit_interval_s: float | None = None,
) -> Path:
    """The arm's settings file; returns ``path``."""
    lines = [f'bootstrap_servers = "{bootstrap}"', "[topics]"]
    lines += [f'{k} = "{v}"' for k, v in names.model_dump().items() if isinstance(v, str)]
    lines += [f"partitions = {names.partitions}", "[model]", f'kind = "{run.kind}"']
    lines += ["[serve]", f'group_id = "{topics.unique("bench-" + run.name)}"']
    lines += [f'instance_id = "{run.name}"', f'processing = "{run.processing}"']
    if commit_interval_s is not None:
        lines += [f"commit_interval_s = {commit_interval_s}"]
    if run.snapshots:
        lines += ["[state]", f'hmac_key = "{secrets.token_hex(16)}"']
    path.write_text("\n".join(lines) + "\n")
    return path


def arm_topics(data: BenchInput, name: str, readings: str | None = None) -> TopicSettings:
    """Fresh output topics for arm ``name`` around the readings topic (created)."""
    defaults = TopicSettings()
    fields = ("labels", "scores", "alerts", "deadletter", "state")
    names = {f: topics.unique(f"{getattr(defaults, f)}.{name}") for f in fields}
    result = TopicSettings(readings=readings or data.topic, partitions=data.partitions, **names)
    create_topics({"bootstrap.servers": data.bootstrap}, result)
    return result


def start_service(
    config: Path, workdir: Path, name: str, nice: int = 0, cpus: frozenset[int] | None = None
) -> tuple[Child, str]:
    """``linewatch serve`` on ``config`` (on ``cpus``, ``None``: the bench's); returns the child
    and its base URL once it printed it."""
    argv = [sys.executable, "-m", "pipeline", "serve", "--config", str(config)]
    child = Child(name, [*argv, "--metrics-port", "0"], workdir, cwd=REPO, nice=nice, cpus=cpus)
    url: list[str] = []

    def printed() -> bool:
        child.check_alive()
        found = re.search(r"metrics at (http://\S+?)/metrics", child.output())
        url.extend([found.group(1)] if found else [])
        return bool(url)

    topics.wait_until(printed, 120.0, f"{name} to print its metrics URL")
    return child, url[0]


def is_ready(base_url: str) -> bool:
    """Whether ``/readyz`` answers 200."""
    try:
        with urllib.request.urlopen(f"{base_url}/readyz", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def run_service_arm(data: BenchInput, run: ServiceRun) -> tuple[ArmResult, TopicSettings, Path]:
    """Drain the input with linewatch; returns the result, its topics and its settings file."""
    names = arm_topics(data, run.name)
    config = write_config(
        data.workdir / f"{run.name}.toml", data.bootstrap, names, run, data.commit_interval_s
    )
    settings = Settings.load(config)
    child, url = start_service(config, data.workdir, run.name, data.nice, data.arm_cpus)
    try:
        start, end, wall = drain(
            child,
            lambda: is_ready(url),
            data.bootstrap,
            settings.serve.group_id,
            data.topic,
            data.ends,
            data.timeout_s,
        )
    finally:
        child.stop()
    dead = _dead_letters(data.bootstrap, names.deadletter, data.partitions)
    note = f"model.kind={run.kind}, serve.processing={run.processing}, snapshots={run.snapshots}"
    note += f", dead letters: {dead}" if dead else ""
    result = finish(run.name, data, names.scores, start, end, wall, note)
    others = [n for n in topic_names(names) if n not in (names.readings, names.scores, names.state)]
    topics.delete(data.bootstrap, others)
    return result, names, config


def _dead_letters(bootstrap: str, topic: str, partitions: int) -> str:
    """The arm's dead letters by reason (``""`` at once when the topic is empty)."""
    if sum(topics.end_offsets(bootstrap, topic, partitions).values()) == 0:
        return ""
    reasons: Counter[str] = Counter()

    def note(message: Message) -> None:
        headers = dict(message.headers() or [])
        reasons[headers.get("error.reason", b"?").decode()] += 1
        where = {k: v.decode() for k, v in headers.items() if k.startswith(("error", "source"))}
        print(f"dead letter: {where} {(message.value() or b'')[:200]!r}", file=sys.stderr)

    topics.read_to_end(bootstrap, topic, note)
    return ", ".join(f"{count} {reason}" for reason, count in sorted(reasons.items()))
