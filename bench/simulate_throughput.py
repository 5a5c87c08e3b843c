"""Simulator throughput into a real local Kafka broker, against a plain produce loop baseline.

Run it (it starts a throw-away local broker unless given one; nothing is asserted)::

    .venv/bin/python -m bench.simulate_throughput [--readings 500000] [--bootstrap-servers H:P]

It measures, in one run and on the same broker and topic settings:

1. *baseline*: a plain confluent-kafka produce loop (same producer settings: idempotent,
   acks=all, lz4, linger 20 ms) of the simulator's messages, encoded beforehand, then flush;
2. *simulate*: what ``linewatch simulate --speed 0`` does: generate the fleet's readings,
   encode, produce with checked delivery reports and metrics, flush;
3. *generate only*: the fleet and the encoding, no Kafka;
4. *paced 50k/s*: ``--rate 50000`` in real time for a few seconds: the rate achieved.

and prints readings/s of each and the ratio simulate / baseline.
"""

from __future__ import annotations

import argparse
import time
import uuid

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from prometheus_client import CollectorRegistry

from bench.speed.topics import broker
from pipeline.messages import Label, encode
from producers.metrics import ProducerMetrics
from producers.pacing import Pacer
from producers.publish import _PRODUCER_DEFAULTS, _PRODUCER_REQUIRED, KafkaPublisher
from producers.simulator import Fleet, interval_for_rate

ASSETS = 100


def topic(bootstrap: str) -> str:
    name = f"bench.readings.{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(name, 3, 1)]).values():
        future.result()
    return name


def fleet(readings: int) -> tuple[Fleet, int]:
    simulated = Fleet(ASSETS, seed=1, interval_s=interval_for_rate(ASSETS, 50_000.0))
    return simulated, readings // ASSETS


def baseline(bootstrap: str, readings: int) -> float:
    simulated, ticks = fleet(readings)
    messages = [(r.asset.encode(), encode(r)) for r in simulated.records(ticks)]
    name = topic(bootstrap)
    producer = Producer(
        {**_PRODUCER_DEFAULTS, "bootstrap.servers": bootstrap, **_PRODUCER_REQUIRED}
    )
    began = time.perf_counter()
    for key, value in messages:
        while True:
            try:
                producer.produce(name, value, key)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    assert producer.flush(60) == 0
    return len(messages) / (time.perf_counter() - began)


def simulate(bootstrap: str, readings: int) -> float:
    simulated, ticks = fleet(readings)
    name = topic(bootstrap)
    metrics = ProducerMetrics(CollectorRegistry(), "bench")
    publisher = KafkaPublisher({"bootstrap.servers": bootstrap}, name, name, metrics)
    began = time.perf_counter()
    with publisher:
        for record in simulated.encoded(ticks):  # what simulate does for Kafka
            publisher.publish(record)
    seconds = time.perf_counter() - began
    assert publisher.delivered == ticks * ASSETS and publisher.failed == 0
    return publisher.delivered / seconds


def generate(readings: int) -> float:
    simulated, ticks = fleet(readings)
    began = time.perf_counter()
    count = sum(1 for record in simulated.encoded(ticks))
    return count / (time.perf_counter() - began)


def paced(bootstrap: str, rate: float, seconds: float) -> float:
    simulated = Fleet(ASSETS, seed=1, interval_s=interval_for_rate(ASSETS, rate))
    name = topic(bootstrap)
    publisher = KafkaPublisher({"bootstrap.servers": bootstrap}, name, name)
    import threading

    pacer, sent = Pacer(1.0, threading.Event()), 0
    with publisher:
        began = 0.0
        for record in simulated.encoded(simulated.ticks_for(seconds)):
            pacer.wait_for(record.ts)
            began = began or time.perf_counter()  # from the first reading on
            publisher.publish(record)
            sent += not isinstance(record, Label)
        produced = time.perf_counter() - began  # the stream's span; the flush comes after
    return sent / produced


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readings", type=int, default=500_000)
    parser.add_argument("--bootstrap-servers", default=None)
    args = parser.parse_args()
    with broker(args.bootstrap_servers) as bootstrap:
        base = baseline(bootstrap, args.readings)
        sim = simulate(bootstrap, args.readings)
        gen = generate(args.readings)
        at_50k = paced(bootstrap, 50_000.0, 5.0)
    print(f"readings: {args.readings:,} from {ASSETS} assets")
    print(f"baseline (plain produce loop, pre-encoded): {base:12,.0f} readings/s")
    print(f"simulate (generate + encode + produce):     {sim:12,.0f} readings/s")
    print(f"generate + encode only (no Kafka):          {gen:12,.0f} readings/s")
    print(f"paced at --rate 50000 for 5 s (achieved):   {at_50k:12,.0f} readings/s")
    print(f"ratio simulate / baseline: {sim / base:.2f}")


if __name__ == "__main__":
    main()
