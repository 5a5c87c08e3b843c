"""Arm (a), the naive loop: one message at a time, stdlib ``json``, one model per asset.

For each message: ``consumer.poll``, ``json.loads``, the asset's detector (linewatch's
``build_detector(ModelSettings(kind=...))``, the same detector linewatch runs, without
linewatch's validation, alert policy, contributions, metrics or snapshots) ``score_one`` then
``learn_one``, and one score ``{"asset", "ts", "score"}`` produced with ``json.dumps``.
Offsets are auto-committed (librdkafka's default, every 5 s); SIGTERM stops it after a flush.
It prints ``READY`` and its CPU seconds so far when the first message arrives.

Run as ``python -m bench.speed.naive BOOTSTRAP INPUT OUTPUT GROUP KIND [COMMIT_INTERVAL_S]``.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from typing import Any

from confluent_kafka import Consumer, Producer

from pipeline.detectors import Detector, build_detector
from pipeline.settings import ModelSettings

__all__ = ["main"]


def _cpu_s() -> float:
    """User + system CPU seconds of this process (what the bench counts from /proc)."""
    times = os.times()
    return times.user + times.system


def main(argv: list[str]) -> int:
    bootstrap, source, sink, group = argv[:4]
    settings = ModelSettings(kind=argv[4])  # type: ignore[arg-type]
    interval = {"auto.commit.interval.ms": int(float(argv[5]) * 1000)} if len(argv) > 5 else {}
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            **interval,
        }
    )
    producer = Producer({"bootstrap.servers": bootstrap})
    consumer.subscribe([source])
    models: dict[str, Detector] = {}
    stopping: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, frame: stopping.append(signum))
    first = True
    while not stopping:
        message = consumer.poll(0.5)
        if message is None or message.error() is not None:
            continue
        if first:
            print(f"READY {_cpu_s()}", flush=True)
            first = False
        reading: dict[str, Any] = json.loads(message.value() or b"null")
        asset = reading["asset"]
        model = models.get(asset)
        if model is None:
            model = models[asset] = build_detector(settings)
        x = {name: float(value) for name, value in reading["values"].items()}
        score = model.score_one(x)
        model.learn_one(x)
        out = {"asset": asset, "ts": reading["ts"], "score": score}
        producer.produce(sink, json.dumps(out).encode(), message.key())
        producer.poll(0)
    producer.flush(30)
    consumer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
