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
import sys
from typing import Any

from confluent_kafka import Producer

from bench.speed import script_arms
from pipeline.detectors import Detector, build_detector
from pipeline.settings import ModelSettings

__all__ = ["main"]


def main(argv: list[str]) -> int:
    bootstrap, sink = argv[0], argv[2]
    settings = ModelSettings(kind=argv[4])  # type: ignore[arg-type]
    consumer = script_arms.consumer(argv)
    producer = Producer({"bootstrap.servers": bootstrap})
    models: dict[str, Detector] = {}
    stopping = script_arms.stop_flag()
    first = True
    while not stopping:
        message = consumer.poll(0.5)
        if message is None or message.error() is not None:
            continue
        if first:
            script_arms.report_ready()
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
    return script_arms.close(producer, consumer)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
