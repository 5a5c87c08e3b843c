"""A light live producer for the latency arm: ``linewatch simulate``'s messages, encoded first.

``linewatch simulate --rate R`` generates each tick's readings as it goes (numpy and Python
per reading: ~14 µs of CPU a reading in all, against ~6 µs here while sending), which on a
2-core machine takes CPU from the service under test and, on a loaded one, falls behind its
rate (21,187 of 24,315 readings/s at load average 10, where this child kept 24,288). This child
builds the same fleet (same assets, seed, interval and defaults as ``linewatch simulate``),
encodes the whole run *before* it starts sending, then publishes the records in real time
through the same :class:`~producers.publish.KafkaPublisher` (idempotent, lz4, linger 5 ms;
delivery reports only for failed records: :func:`_producer_config`), paced by their
timestamps: the records of one timestamp (the fleet's ~40 readings a millisecond at
40,000/s) are one wait and one ``publish_many``: 2.7, 3.0 and 2.7 CPU s for 600,000 readings
(librdkafka's threads included) against 3.2, 2.9 and 3.2 with a wait and a ``publish`` each
(three alternated 15 s runs at 40,000/s; earlier, on a slower machine, 5.6 against 6.2 µs a
reading). Each message gets its Kafka timestamp (``CreateTime``) when it is produced, as with
``simulate``; the payloads carry the simulated ``ts``.

It sends the first record only once its producer is ready: connected, with its idempotent
producer id (librdkafka's statistics report ``eos.idemp_state`` ``Assigned``), or after 10 s
without it (saying so). A producer
that starts sending at once holds its first ~0.5 s of records until then, and they reached a
plain consumer 200-560 ms late (42,000 readings/s, warm broker): a start-up transient of the
load generator that the service then had to catch up with, measured as the service's latency.
With ``--partitions P`` (the readings topic's partitions) the assets of one partition read one
after another within each tick (:func:`producers.partitioning.phases_by_partition`; each asset
still reads once an interval), so one produce request carries what took one per partition:
at 43,000 readings/s over 4 partitions, ~300 produce requests a second instead of ~600 (bench
round 18). The default, 1, sends in asset order, as ``linewatch simulate --order asset`` does.

It prints the rate it achieved while sending (from the first record to the last, before the
final flush)::

    python -m bench.speed.loadgen --config C --assets 1000 --rate 20000 --duration 30 --seed 2 \
        --partitions 4
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from itertools import groupby
from operator import attrgetter
from pathlib import Path
from typing import Any

import orjson
from prometheus_client import CollectorRegistry

from bench.speed.cli_types import positive_int
from pipeline.messages import Label
from pipeline.settings import Settings
from producers.fleet import Fleet, asset_name, interval_for_rate
from producers.metrics import ProducerMetrics
from producers.pacing import Pacer
from producers.partitioning import phases_by_partition
from producers.publish import KafkaPublisher

_STATISTICS_EVERY_MS = 50
_READY_TIMEOUT_S = 10.0

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.speed.loadgen")
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--assets", type=int, required=True)
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--duration", type=float, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--partitions",
        type=positive_int,
        default=1,
        help="the topic's partitions: each partition's assets read one after another "
        "(default 1: in asset order)",
    )
    args = parser.parse_args(argv)
    fleet = Fleet(
        args.assets,
        seed=args.seed,
        interval_s=interval_for_rate(args.assets, args.rate),
        start_ts_ms=int(time.time() * 1000),
        phases=phases_by_partition([asset_name(i) for i in range(args.assets)], args.partitions),
    )
    began = time.monotonic()
    records = list(fleet.encoded(fleet.ticks_for(args.duration)))
    ticks = [list(tick) for _, tick in groupby(records, key=attrgetter("ts"))]
    encoded_s = time.monotonic() - began
    settings = Settings.load(args.config)
    ready = threading.Event()
    sink = KafkaPublisher(
        _producer_config(settings, ready),
        settings.topics.readings,
        settings.topics.labels,
        ProducerMetrics(CollectorRegistry(), "bench"),
    )
    where = f"{settings.bootstrap_servers} ({settings.topics.readings})"
    waited = _wait_ready(sink, ready, _READY_TIMEOUT_S)
    pacer, sent, first, cpu = Pacer(1.0, threading.Event()), 0, 0.0, time.process_time()
    try:
        for tick in ticks:  # a tick's records share their ts: one wait, one loop
            pacer.wait_for(tick[0].ts)
            first = first or time.monotonic()
            sink.publish_many(tick)
            sent += sum(not isinstance(record, Label) for record in tick)
        sending_s = time.monotonic() - first
        sink.flush()
        cpu = time.process_time() - cpu
    finally:
        sink.close()
    print(
        f"loadgen: {sent} readings in {sending_s:.1f} s ({sent / sending_s:,.0f} readings/s) "
        f"to {where}; encoded beforehand in {encoded_s:.1f} s; producer ready after "
        f"{waited:.2f} s; {cpu:.1f} CPU s sending",
        file=sys.stderr,
    )
    return 0


def _producer_config(settings: Settings, ready: threading.Event) -> dict[str, Any]:
    """The publisher's librdkafka properties: the settings' client config, the statistics
    that set ``ready`` (:func:`_statistics`), and delivery reports for failed records only.

    A report for every record cost this process a Python callback and a counter update per
    reading that nothing here reads (it counts what it sends): 4.9 and 5.1 CPU s for 775,000
    readings at 31,000/s without them, against 5.6 and 5.5 with them (alternated, session 23).
    The records that fail still reach the publisher's callback, so :meth:`KafkaPublisher.flush`
    still raises for them.
    """
    return {
        **settings.client_config(),
        **_statistics(ready),
        "delivery.report.only.error": True,
    }


def _statistics(ready: threading.Event) -> dict[str, Any]:
    """librdkafka properties that set ``ready`` once the idempotent producer has its id.

    The statistics keep coming every 50 ms for the whole run; once ``ready`` is set they are
    not parsed any more."""

    def on_statistics(text: str) -> None:
        if ready.is_set():
            return
        if orjson.loads(text).get("eos", {}).get("idemp_state") == "Assigned":
            ready.set()

    return {"statistics.interval.ms": _STATISTICS_EVERY_MS, "stats_cb": on_statistics}


def _wait_ready(sink: KafkaPublisher, ready: threading.Event, timeout_s: float) -> float:
    """Serve the producer's callbacks until ``ready`` or for ``timeout_s`` at most (then say
    so and go on: the first records wait in the producer, as they did before this wait);
    the seconds it took."""
    began = time.monotonic()
    while not ready.is_set():
        if time.monotonic() - began > timeout_s:
            print(
                f"loadgen: the producer had no producer id after {timeout_s:g} s; sending anyway",
                file=sys.stderr,
            )
            break
        sink.serve(0.05)  # serves the statistics callback
    return time.monotonic() - began


if __name__ == "__main__":
    sys.exit(main())
