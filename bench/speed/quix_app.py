"""Arm (b): a Quix Streams application doing the naive loop's work.

A ``StreamingDataFrame`` over the input topic (Quix's JSON deserializer), one ``apply`` that
scores then learns the reading with the asset's detector (the same ``build_detector`` as the
naive loop, kept in a plain dict in the process: the detectors are not JSON values, so Quix's
RocksDB state cannot hold them, and none of the arms persists model state except linewatch),
and ``to_topic`` to the output topic (Quix's JSON serializer; the message key is kept).
Quix defaults otherwise: at-least-once, commit every 5 s. It prints ``READY`` when the first
message arrives, with its CPU seconds so far. Runs with the ``.venv-bench`` interpreter
(``scripts/setup-bench``).

Run as ``python -m bench.speed.quix_app BOOTSTRAP INPUT OUTPUT GROUP KIND [COMMIT_INTERVAL_S]``.
"""

from __future__ import annotations

import os
import sys
import tempfile
from typing import Any

from pipeline.detectors import Detector, build_detector
from pipeline.settings import ModelSettings

__all__ = ["Scorer", "main"]


class Scorer:
    """Per-asset detectors: ``score_one`` then ``learn_one``; one score dict per reading."""

    def __init__(self, settings: ModelSettings) -> None:
        self.settings = settings
        self.models: dict[str, Detector] = {}
        self.seen = 0

    def __call__(self, reading: dict[str, Any]) -> dict[str, Any]:
        if self.seen == 0:
            print(f"READY {_cpu_s()}", flush=True)
        self.seen += 1
        asset = reading["asset"]
        model = self.models.get(asset)
        if model is None:
            model = self.models[asset] = build_detector(self.settings)
        x = {name: float(value) for name, value in reading["values"].items()}
        score = model.score_one(x)
        model.learn_one(x)
        return {"asset": asset, "ts": reading["ts"], "score": score}


def _cpu_s() -> float:
    """User + system CPU seconds of this process (what the bench counts from /proc)."""
    times = os.times()
    return times.user + times.system


def main(argv: list[str]) -> int:
    from quixstreams import Application  # type: ignore[import-not-found]  # .venv-bench only

    bootstrap, source, sink, group = argv[:4]
    settings = ModelSettings(kind=argv[4])  # type: ignore[arg-type]
    interval = float(argv[5]) if len(argv) > 5 else 5.0  # Quix's default
    with tempfile.TemporaryDirectory(prefix="quix-state-") as state_dir:
        app = Application(
            broker_address=bootstrap,
            consumer_group=group,
            auto_offset_reset="earliest",
            state_dir=state_dir,
            loglevel="WARNING",
            commit_interval=interval,
        )
        readings = app.topic(source, value_deserializer="json")
        scores = app.topic(sink, value_serializer="json")
        frame = app.dataframe(readings).apply(Scorer(settings))
        frame.to_topic(scores)
        app.run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
