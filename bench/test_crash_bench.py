"""Crash soak (opt-in): a million readings, SIGKILL at random points, outputs compared.

Run with ``.venv/bin/python -m pytest bench -m slow -s``; ``LINEWATCH_BENCH_READINGS`` (default
1,000,000, a multiple of 20,000) and ``LINEWATCH_BENCH_KILLS`` (default 10) size it. Prints
readings, kills, lost, duplicated, equality and the wall time of the clean reference and of
the run with kills (also written as JSON to ``LINEWATCH_BENCH_REPORT`` when set).
"""

from __future__ import annotations

import json
import os
import random
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest

from pipeline.settings import Settings, TopicSettings
from pipeline.topics import create_topics
from tests.integration.eos_io import (
    by_asset,
    delete_topics,
    reference,
    wait_caught_up,
    wait_ready,
    write_service_config,
)
from tests.integration.kafka_io import ServiceProcess, committed_lag, linewatch, read_all

pytestmark = [pytest.mark.slow, pytest.mark.integration]

READINGS = int(os.environ.get("LINEWATCH_BENCH_READINGS", "1000000"))
KILLS = int(os.environ.get("LINEWATCH_BENCH_KILLS", "10"))


def test_crash_soak(kafka_broker, tmp_path: Path):
    suffix = uuid.uuid4().hex[:8]
    defaults = TopicSettings()
    names = ("readings", "labels", "scores", "alerts", "deadletter", "state")
    topics = TopicSettings(**{n: f"{getattr(defaults, n)}.bench.{suffix}" for n in names})
    create_topics(kafka_broker.config, topics)
    group = f"bench-{suffix}"
    try:
        report = _soak(kafka_broker, topics, group, tmp_path)
    finally:
        delete_topics(kafka_broker.config, [getattr(topics, n) for n in names])
    print(json.dumps(report, indent=2))
    if path := os.environ.get("LINEWATCH_BENCH_REPORT"):
        Path(path).write_text(json.dumps(report, indent=2) + "\n")
    assert report["lost"] == 0 and report["duplicated"] == 0 and report["equal"]


def _soak(kafka_broker, topics: TopicSettings, group: str, tmp_path: Path) -> dict[str, object]:
    config = write_service_config(tmp_path / "in.toml", kafka_broker.bootstrap, topics, group, "b")
    rate = READINGS // 500
    sent = linewatch(
        "simulate", "--config", str(config), "--assets", "20", "--rate", str(rate),
        "--duration", "500", "--seed", "3", "--speed", "0", "--start-ts", "1700000000000",
        "--fault", "asset-003:bearing_wear@200", "--fault", "asset-011:overheating@300",
    )  # fmt: skip
    assert sent.returncode == 0, sent.stderr
    messages = read_all(kafka_broker.bootstrap, topics.readings, READINGS, timeout_s=600)
    began = time.monotonic()
    expected = reference(Settings.load(config), messages)
    reference_s = time.monotonic() - began

    rng = random.Random(KILLS)
    began = time.monotonic()
    for run in range(KILLS):
        service = ServiceProcess(config.rename(tmp_path / f"run{run}.toml"))
        config = tmp_path / f"run{run}.toml"
        wait_ready(service)
        time.sleep(rng.uniform(1.0, 10.0))
        service.kill()
    lag_after_kills = committed_lag(kafka_broker.bootstrap, group, topics.readings, 3)
    final = ServiceProcess(config.rename(tmp_path / "final.toml"))
    wait_ready(final)
    wait_caught_up(kafka_broker.bootstrap, group, topics, timeout_s=3600)
    assert final.stop() == 0, final.stderr
    crashed_s = time.monotonic() - began

    got = by_asset(read_all(kafka_broker.bootstrap, topics.scores, READINGS, timeout_s=600))
    lost = duplicated = 0
    for asset, values in expected.scores.items():
        have, want = Counter(got.get(asset, [])), Counter(values)
        lost += sum((want - have).values())
        duplicated += sum((have - want).values())
    alerts = by_asset(read_all(kafka_broker.bootstrap, topics.alerts, 1, timeout_s=30))
    return {
        "readings": READINGS,
        "kills": KILLS,
        "lag_after_kills": lag_after_kills,
        "lost": lost,
        "duplicated": duplicated,
        "equal": got == expected.scores and alerts == expected.alerts,
        "alerts": sum(len(v) for v in expected.alerts.values()),
        "reference_s": round(reference_s, 1),
        "with_kills_s": round(crashed_s, 1),
        "ratio_with_kills_vs_reference": round(crashed_s / reference_s, 2),
    }
