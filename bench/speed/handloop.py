"""Arm (g), the hand loop: the least a Python service built on confluent-kafka does per reading.

The issue's "decode + trivial score + produce, hand-written confluent-kafka batch loop": for
each batch of up to 1,000 messages (``consumer.consume``), each message is decoded by a typed
msgspec decoder, scored by its largest channel value (no model, no state, no validation
beyond the decoder's types), and one score ``{"asset", "ts", "score"}`` encoded by msgspec is
produced with the message's key; delivery reports are served once a batch. Offsets are
auto-committed (librdkafka's default, every 5 s); SIGTERM stops it after a flush. It prints
``READY`` and its CPU seconds so far when the first batch arrives.

It is the pass-through arm's yardstick: measured in the same run, on the same broker and
input, ``passthrough/handloop`` says how close linewatch's pass-through comes to a loop that
does nothing else. The issue measured this loop at ~124,000 readings/s and set pass-through's
target at 100,000 (0.81 of it). The two do not always move together with the shared
machine: in one run the hand loop's rounds were 0.3 % apart and pass-through's 36 %
(round 21 of ``bench/NOTES-latency-memory.md``).

Run as ``python -m bench.speed.handloop BOOTSTRAP INPUT OUTPUT GROUP KIND [COMMIT_INTERVAL_S]``
(``KIND`` is taken for the arms' common command line and not used).
"""

from __future__ import annotations

import sys

import msgspec
from confluent_kafka import Producer

from bench.speed import script_arms

__all__ = ["main"]

_BATCH = 1000


class _Reading(msgspec.Struct):
    asset: str
    ts: int
    values: dict[str, float]


class _Score(msgspec.Struct):
    asset: str
    ts: int
    score: float


_decode = msgspec.json.Decoder(_Reading).decode
_encode = msgspec.json.Encoder().encode


def main(argv: list[str]) -> int:
    bootstrap, sink = argv[0], argv[2]
    consumer = script_arms.consumer(argv)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 25})
    stopping = script_arms.stop_flag()
    first = True
    produce, decode, encode, score = producer.produce, _decode, _encode, _Score
    while not stopping:
        batch = consumer.consume(_BATCH, 0.5)
        if not batch:
            continue
        if first:
            script_arms.report_ready()
            first = False
        for message in batch:
            if message.error() is not None:
                continue
            reading = decode(message.value() or b"null")
            value = encode(score(reading.asset, reading.ts, max(reading.values.values())))
            while True:
                try:
                    produce(sink, value, message.key())
                    break
                except BufferError:  # the local queue is full: serve reports, then retry
                    producer.poll(0.1)
        producer.poll(0)
    return script_arms.close(producer, consumer)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
