"""What the script arms (:mod:`bench.speed.naive`, :mod:`bench.speed.handloop`) share: their
command line, the consumer, the stop signal, the first-message CPU report and the close.

Each runs as ``python -m MODULE BOOTSTRAP INPUT OUTPUT GROUP KIND [COMMIT_INTERVAL_S]``
(:func:`bench.speed.arms.run_script_arm`).
"""

from __future__ import annotations

import os
import signal

from confluent_kafka import Consumer, Producer

__all__ = ["close", "consumer", "report_ready", "stop_flag"]


def consumer(argv: list[str]) -> Consumer:
    """The arm's consumer of INPUT in GROUP from the earliest offset, subscribed; offsets are
    auto-committed (librdkafka's default, every 5 s, or every COMMIT_INTERVAL_S)."""
    bootstrap, source, _, group = argv[:4]
    interval = {"auto.commit.interval.ms": int(float(argv[5]) * 1000)} if len(argv) > 5 else {}
    made = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            **interval,
        }
    )
    made.subscribe([source])
    return made


def stop_flag() -> list[int]:
    """A list that SIGTERM appends to: the arm stops once it is not empty."""
    stopping: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, frame: stopping.append(signum))
    return stopping


def report_ready() -> None:
    """Print ``READY`` and this process's CPU seconds so far (user + system, what the bench
    counts from /proc): the arm's cost starts here, at its first message."""
    times = os.times()
    print(f"READY {times.user + times.system}", flush=True)


def close(producer: Producer, consumer: Consumer) -> int:
    """Flush the scores, leave the group; the arm's exit status."""
    producer.flush(30)
    consumer.close()
    return 0
