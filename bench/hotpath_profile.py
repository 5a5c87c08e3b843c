"""Quick self-measurement of the hot path (not a test): readings per CPU-second.

Two modes, both over ``--assets`` assets with ``--channels`` correlated channels:

- ``processor``: the data path without Kafka. ``Processor.process`` one message at a time, then
  ``Processor.process_batch`` in batches of ``--batch``, on fresh processors, plus the batch
  path with the scores encoded as the service encodes them (``Outcomes.encoded_scores``).
- ``service``: the whole ``serve`` loop against a real broker (``--bootstrap-servers``, or a
  local one started for the run): preload ``sensor.readings``, then drain it with one
  :class:`~pipeline.app.Service` and count readings per CPU-second of this process (which
  includes librdkafka's threads; the main thread, which only samples the progress, is
  left out).

Usage::

    .venv/bin/python -m bench.hotpath_profile processor --readings 200000
    .venv/bin/python -m bench.hotpath_profile service --readings 300000 --kind zscore
"""

from __future__ import annotations

import argparse
import math
import os
import random
import resource
import time
from collections.abc import Iterator
from typing import Any

from pipeline.collector import tune_collector
from pipeline.detectors.fleet_load import load_kernels
from pipeline.messages import Reading, encode
from pipeline.processor import Processor, Source
from pipeline.settings import Settings


def readings(assets: int, channels: int, count: int, seed: int = 0) -> Iterator[bytes]:
    """``count`` encoded readings, round-robin over ``assets``, channels mixing two factors."""
    rng = random.Random(seed)
    names = [f"ch{j}" for j in range(channels)]
    for i in range(count):
        asset, tick = i % assets, i // assets
        a, b = rng.gauss(0.0, 1.0), rng.gauss(0.0, 1.0)
        values = {
            name: round(10.0 + j + math.sin(tick / 50.0) + a * (1 + j % 3) + 0.3 * b * j, 4)
            for j, name in enumerate(names)
        }
        yield encode(
            Reading(f"asset-{asset:05d}", 1_700_000_000_000 + tick * 1000, values, seq=tick)
        )


def _rate(label: str, n: int, cpu: float) -> float:
    rate = n / cpu if cpu > 0 else float("inf")
    print(f"{label:<38} {n:>9} readings  {cpu:7.2f} CPU-s  {rate:>10,.0f} readings/s/core")
    return rate


def _rss_mb() -> float:
    """Resident memory now (Linux), in MB."""
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * resource.getpagesize() / 1e6


def profile_processor(args: argparse.Namespace) -> None:
    tune_collector()  # as the service does
    settings = Settings.load(None, model={"kind": args.kind})
    load_kernels(settings.model)  # as the service does before it is ready (not per asset)
    messages = list(readings(args.assets, args.channels, args.readings))
    source = Source("sensor.readings", 0, 0, None)
    if args.per_message:
        processor = Processor(settings)
        n = min(len(messages), args.per_message)
        started = time.process_time()
        for value in messages[:n]:
            processor.process(value, source)
        _rate("process (one message at a time)", n, time.process_time() - started)
    before = _rss_mb()
    for encode_scores in (False, True):
        processor = Processor(settings)
        started = time.process_time()
        for i in range(0, len(messages), args.batch):
            outcomes = processor.process_batch([(v, source) for v in messages[i : i + args.batch]])
            if encode_scores:  # as the service encodes them (Emitter.batch)
                outcomes.encoded_scores()
        label = f"process_batch({args.batch}){' + encode' if encode_scores else ''}"
        _rate(label, len(messages), time.process_time() - started)
    held = (_rss_mb() - before) * 1000 / max(len(processor.assets), 1)
    print(f"resident memory held by the processor: {held:.1f} MB per 1,000 assets")


def _preload(settings: Settings, args: argparse.Namespace) -> None:
    from confluent_kafka import Producer

    producer = Producer(
        {
            **settings.client_config(),
            "linger.ms": 50,
            "batch.size": 1_000_000,
            "enable.idempotence": True,  # no reordering on retries: each asset's readings in order
        }
    )
    for value in readings(args.assets, args.channels, args.readings):
        key = value[10 : value.index(b'"', 10)]  # {"asset":"<key>"
        while True:
            try:
                producer.produce(settings.topics.readings, value=value, key=key)
                break
            except BufferError:
                producer.poll(0.1)
    while producer.flush(10) > 0:
        print("preload: waiting for the broker to acknowledge")


def _task_cpu(native_id: int | None) -> float:
    """CPU seconds (user + system) of one thread of this process, from ``/proc`` (Linux)."""
    with open(f"/proc/self/task/{native_id}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


_STAGES = {
    "service loop (all)": ("pipeline.app", "Service", "run"),
    "batch: Kafka messages -> emitted": ("pipeline.app", "Service", "_process_batch"),
    "  decode": ("pipeline.decoding", "ReadingDecoder", "decode_many"),
    "  decode (per message, older code)": ("pipeline.processor", "Processor", "_decode"),
    "  decode + score (batch path)": ("pipeline.fastpath", "BatchPath", "run_messages"),
    "  score (batch path)": ("pipeline.fastpath", "BatchPath", "run"),
    "    fleet rounds": ("pipeline.fleet_rounds", "FleetRounds", "_score_round"),
    "  emit (encode, produce)": ("pipeline.emit", "Emitter", "batch"),
    "    metrics": ("pipeline.metrics", "ServiceMetrics", "observe_outcomes"),
    "    encode scores": ("pipeline.outcomes", "Outcomes", "encoded_scores"),
    "  snapshots owed before readings": ("pipeline.partitions", "PartitionStates", "take"),
    "snapshots taken after a batch": ("pipeline.checkpoints", "CommitCycle", "take_snapshots"),
    "commit (foreground, or begun)": ("pipeline.checkpoints", "CommitCycle", "checkpoint"),
    "snapshots pickled (all of the above)": ("pipeline.partitions", "PartitionStates", "_take"),
}
"""Stages timed by ``--stages``: (module, class, method); nested ones are included above."""


def _time_stages() -> dict[str, float]:
    """Wrap the methods of :data:`_STAGES` to add up their thread CPU seconds (per call)."""
    import importlib

    spent = dict.fromkeys(_STAGES, 0.0)
    for label, (module, cls_name, name) in _STAGES.items():
        try:
            cls = getattr(importlib.import_module(module), cls_name)
        except (ImportError, AttributeError):
            cls = None
        original = getattr(cls, name, None)
        if cls is None or original is None:  # not in this version of the code
            del spent[label]
            continue

        def timed(*args: object, _f: Any = original, _label: str = label, **kwargs: object) -> Any:
            started = time.thread_time()
            try:
                return _f(*args, **kwargs)
            finally:
                spent[_label] += time.thread_time() - started

        setattr(cls, name, timed)
    return spent


def _drain(settings: Settings, total: int, profile: str | None = None) -> tuple[int, float, float]:
    """Run one Service until it scored ``total`` readings: (readings, CPU s, wall s).

    Also prints the service thread's own CPU (the Python side) against the whole process's
    (which adds librdkafka's threads); ``profile`` writes a cProfile of the service thread.
    """
    import cProfile
    import threading

    from prometheus_client import CollectorRegistry

    from pipeline.app import Service
    from pipeline.metrics import ServiceMetrics

    registry = CollectorRegistry()
    metrics = ServiceMetrics(registry)
    service = Service(settings, metrics)
    stop = threading.Event()
    profiler = cProfile.Profile() if profile else None

    def run() -> None:
        if profiler is None:
            service.run(stop)
        else:
            profiler.runcall(service.run, stop)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    service.ready.wait(60)
    cpu, wall = time.process_time(), time.perf_counter()
    own, sampler = _task_cpu(thread.native_id), time.thread_time()

    def valid() -> (
        int
    ):  # the counter itself: collecting the registry cost this thread ~1 us/reading
        return int(metrics._valid._value.get())

    done, used, took, own_used, sampled = 0, 0.0, 0.0, 0.0, 0.0
    last_progress = time.perf_counter()
    while done < total and time.perf_counter() - last_progress < 15:
        time.sleep(0.05)
        if valid() > done:
            done, last_progress = valid(), time.perf_counter()
            used, took = time.process_time() - cpu, last_progress - wall
            own_used = _task_cpu(thread.native_id) - own
            sampled = time.thread_time() - sampler
    dead = {
        s.labels["reason"]: s.value
        for m in registry.collect()
        for s in m.samples
        if s.name == "linewatch_deadletters_total" and s.value
    }
    if done < total:
        print(f"stalled at {done} of {total} readings; dead letters {dead}")
    cpu, wall = used - sampled, took  # the service: its thread, librdkafka, the helper
    if os.environ.get("HOTPATH_THREADS"):  # every thread's CPU (librdkafka names its own)
        for task in sorted(os.listdir("/proc/self/task"), key=int):
            with open(f"/proc/self/task/{task}/comm") as handle:
                name = handle.read().strip()
            print(f"  thread {task:>7} {name:<20} {_task_cpu(int(task)):7.2f} CPU-s")
    stop.set()
    thread.join(60)
    if done:
        per = 1e6 / done
        others = used - own_used - sampled
        print(
            f"CPU per reading: process {used * per:.1f} us, service thread {own_used * per:.1f} us,"
            f" other threads (librdkafka, commit helper) {others * per:.1f} us,"
            f" this sampler {sampled * per:.1f} us"
        )
    if profiler is not None and profile is not None:
        profiler.dump_stats(profile)
        print(f"cProfile of the service thread: {profile}")
    sizes = registry.get_sample_value("linewatch_snapshot_bytes_sum") or 0.0
    count = registry.get_sample_value("linewatch_snapshot_bytes_count") or 1.0
    print(f"snapshots: {count:.0f}, {sizes / count:,.0f} bytes each on average")
    return done, cpu, wall


def profile_service(args: argparse.Namespace) -> None:
    import tempfile
    import uuid
    from pathlib import Path

    from pipeline.broker.local import BrokerConfig, LocalBroker, default_cache_dir
    from pipeline.broker.process import free_port
    from pipeline.settings import TopicSettings
    from pipeline.topics import create_topics

    with tempfile.TemporaryDirectory() as tmp:
        broker = None
        bootstrap = args.bootstrap_servers
        if bootstrap is None:
            config = BrokerConfig(
                port=free_port("127.0.0.1"), data_dir=Path(tmp), cache_dir=default_cache_dir()
            )
            broker = LocalBroker(config)
            bootstrap = broker.start(timeout_s=120).bootstrap
        try:
            suffix = uuid.uuid4().hex[:8]
            topics = TopicSettings(
                **{name: f"{name}.{suffix}" for name in ("readings", "labels", "scores")},
                alerts=f"alerts.{suffix}",
                deadletter=f"deadletter.{suffix}",
                state=f"state.{suffix}",
                partitions=4,
            )
            settings = Settings.load(
                None,
                bootstrap_servers=bootstrap,
                topics=topics.model_dump(),
                model={"kind": args.kind},
                serve={
                    "group_id": f"profile-{suffix}",
                    "batch_size": args.batch,
                    "metrics_port": 0,
                },
                state={"hmac_key": "profile"},
            )
            create_topics(settings.client_config(), settings.topics)
            started = time.perf_counter()
            if args.simulator:  # the bench's input: simulator payloads, lz4, idempotent
                from bench.speed.topics import preload

                preload(bootstrap, settings.topics.readings, args.readings, args.assets)
            else:
                _preload(settings, args)
            print(f"preloaded {args.readings} readings in {time.perf_counter() - started:.1f} s")
            spent = _time_stages() if args.stages else None
            done, cpu, wall = _drain(settings, args.readings, args.cprofile)
            for label, seconds in (spent or {}).items():
                print(f"{label:<38} {seconds * 1e6 / max(done, 1):6.2f} us per reading")
            _rate(f"serve ({args.kind}, batch {args.batch})", done, cpu)
            print(f"wall {wall:.1f} s: {done / wall:,.0f} readings/s")
        finally:
            if broker is not None:
                broker.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["processor", "service"])
    parser.add_argument("--readings", type=int, default=200_000)
    parser.add_argument("--assets", type=int, default=1000)
    parser.add_argument("--channels", type=int, default=8)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--kind", default="mahalanobis")
    parser.add_argument("--per-message", type=int, default=0, help="also time process() on N")
    parser.add_argument("--bootstrap-servers", default=None)
    parser.add_argument("--cprofile", default=None, help="service: write a cProfile here")
    parser.add_argument("--stages", action="store_true", help="service: CPU per stage")
    parser.add_argument(
        "--simulator", action="store_true", help="service: preload as bench/speed does"
    )
    args = parser.parse_args()
    if args.mode == "processor":
        profile_processor(args)
    else:
        profile_service(args)


if __name__ == "__main__":
    main()
