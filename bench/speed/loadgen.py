"""A light live producer for the latency arm: ``linewatch simulate``'s messages, encoded first.

``linewatch simulate --rate R`` generates each tick's readings as it goes (numpy and Python
per reading: ~14 µs of CPU a reading in all, against ~6 µs here while sending), which on a
2-core machine takes CPU from the service under test and, on a loaded one, falls behind its
rate (21,187 of 24,315 readings/s at load average 10, where this child kept 24,288). This child
builds the same fleet (same assets, seed, interval and defaults as ``linewatch simulate``),
encodes the whole run *before* it starts sending, then publishes the records in real time
through the same :class:`~producers.publish.KafkaPublisher` (idempotent, lz4, linger 5 ms),
paced by their timestamps. Each message gets its Kafka timestamp (``CreateTime``) when it is
produced, as with ``simulate``; the payloads carry the simulated ``ts``. It prints the rate it
achieved while sending (from the first record to the last, before the final flush)::

    python -m bench.speed.loadgen --config C --assets 1000 --rate 20000 --duration 30 --seed 2
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

from prometheus_client import CollectorRegistry

from pipeline.messages import Label
from producers.fleet import Fleet, interval_for_rate
from producers.metrics import ProducerMetrics
from producers.pacing import Pacer
from producers.sinks import open_sink

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.speed.loadgen")
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--assets", type=int, required=True)
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--duration", type=float, required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    fleet = Fleet(
        args.assets,
        seed=args.seed,
        interval_s=interval_for_rate(args.assets, args.rate),
        start_ts_ms=int(time.time() * 1000),
    )
    began = time.monotonic()
    records = list(fleet.encoded(fleet.ticks_for(args.duration)))
    encoded_s = time.monotonic() - began
    sink, where = open_sink(None, None, args.config, ProducerMetrics(CollectorRegistry(), "bench"))
    pacer, sent, first, cpu = Pacer(1.0, threading.Event()), 0, 0.0, time.process_time()
    try:
        for record in records:
            pacer.wait_for(record.ts)
            first = first or time.monotonic()
            sink.publish(record)
            sent += not isinstance(record, Label)
        sending_s = time.monotonic() - first
        sink.flush()
        cpu = time.process_time() - cpu
    finally:
        sink.close()
    print(
        f"loadgen: {sent} readings in {sending_s:.1f} s ({sent / sending_s:,.0f} readings/s) "
        f"to {where}; encoded beforehand in {encoded_s:.1f} s; {cpu:.1f} CPU s sending",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
