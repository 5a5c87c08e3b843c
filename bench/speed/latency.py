"""Measurement (e): event-to-score latency at half linewatch's peak rate, live producer.

A fresh readings topic, ``linewatch serve`` (the linewatch arm's settings) waiting on it, and a
live producer in real time at the chosen rate for the chosen seconds: by default
:mod:`bench.speed.loadgen` (``linewatch simulate``'s messages, encoded before the run and sent
through the simulator's publisher: idempotent, lz4, linger 5 ms), or with
``--latency-producer simulate`` ``linewatch simulate`` itself, which generates the fleet as it
sends: ~14 µs of CPU a reading against loadgen's ~6 µs while sending (measured at 24,315/s,
load average 10, where ``simulate`` also fell behind its rate: 21,187/s). loadgen sends each
partition's assets in turn within a tick (``--latency-order partition``, the default), so a
linger's worth of readings mostly goes to one partition, in one produce request, not in one
request per partition (librdkafka sends one partition per request), as ``linewatch simulate``
does by default; ``--latency-order asset`` sends in asset order (``simulate --order asset``).
The rate the producer achieved and its CPU seconds are printed. Each reading's latency is

    score time - event time

- **event time**: the reading message's Kafka timestamp (``CreateTime``: the simulator's
  producer stamps it when ``produce`` is called, so the producer's batching is counted);
- **score time**: the score message's Kafka timestamp (``CreateTime``): the instant the score
  was made. A score produced at once is stamped by the service's producer when it hands the
  score over; one made while a background commit is under way is held and produced after
  it with the time it was held as its explicit timestamp (:mod:`pipeline.background`). The
  service's ``linger.ms`` and the transaction commit are not counted: the *visible* latency
  below is.

Readings and scores are matched by ``(asset, ts)``; the first fifth of the run (each asset's
model being created and warming up) is left out. With ``serve.processing = exactly_once`` a
``read_committed`` consumer sees a score only when its transaction commits (every
``serve.commit_interval_s`` or ``serve.commit_every`` readings), so the *visible* latency is
measured too: this process polls the scores partitions' last stable offsets (what a
``read_committed`` consumer may read) every 20 ms and notes when each score's offset came below
it. (A live consumer of the scores did this before: a commit makes ~100,000 scores visible at
once, and fetching them took this process 0.5-0.9 of the machine's two cores for half a second
after every commit, which delayed the service it measures.)
Two figures say where a tail came from: how many of the measured seconds (by event time)
had their own p99 within :data:`TARGET_MS` (a tail made in a few episodes, or all along), and
how often a witness sleeping at nice -10 in its own process (:mod:`bench.speed.stalls`) woke
20 ms or more late in the measured window: stalls of the machine itself, during which no
process of the pipeline ran.
With ``--workdir`` every reading's event time and latency go to ``latency.csv`` there (next to
the service's log, whose ``slow round`` lines :mod:`pipeline.rounds` writes when
``LINEWATCH_SERVE__SLOW_ROUND_MS`` is set).
"""

from __future__ import annotations

import contextlib
import re
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from confluent_kafka import IsolationLevel, KafkaException, Message, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from bench.speed import topics
from bench.speed.arms import REPO, BenchInput
from bench.speed.procstat import sample
from bench.speed.runner import Child, drain
from bench.speed.service import ServiceRun, arm_topics, is_ready, start_service, write_config
from bench.speed.stalls import LATE_MS, Stalls
from bench.speed.stats import percentile
from pipeline.settings import Settings, TopicSettings

if TYPE_CHECKING:
    from bench.speed.run import Options

__all__ = ["LatencyResult", "latencies", "measure_latency", "seconds_within"]

TARGET_MS = 50.0
"""Issue 7's p99 target: each second of the run is checked against it too."""


@dataclass(frozen=True)
class LatencyResult:
    """Event-to-score latency percentiles (ms) at ``rate`` readings/s."""

    rate: float
    seconds: float
    readings: int
    measured: int
    achieved: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    visible_p50_ms: float | None
    visible_p99_ms: float | None
    note: str
    producer: str = "`linewatch simulate`"
    service_cpu_s: float | None = None
    """The service's CPU seconds (all its threads) from ready until it had scored the last
    reading: how busy the rate kept it (:attr:`service_cores`)."""
    seconds_ok: tuple[int, int] | None = None
    """Of the measured seconds (by event time), how many had p99 <= :data:`TARGET_MS`, and
    how many there were: a tail made in episodes, or all along."""
    stalls: Stalls | None = None
    """The stall witness's late wake-ups in the measured window (:mod:`bench.speed.stalls`)."""

    @property
    def service_us_per_reading(self) -> float | None:
        """The service's CPU per reading sent, µs."""
        if self.service_cpu_s is None or not self.readings:
            return None
        return self.service_cpu_s / self.readings * 1e6

    @property
    def service_cores(self) -> float | None:
        """The cores the service's CPU per reading takes at the arm's rate (1.0: one core
        busy all the time; its consuming thread is one of its threads).

        >>> result = LatencyResult(1000.0, 30.0, 30_000, 24_000, 1000.0, 5.0, 9.0, 12.0,
        ...                        None, None, "", service_cpu_s=6.0)
        >>> result.service_us_per_reading, result.service_cores
        (200.0, 0.2)
        """
        each = self.service_us_per_reading
        return None if each is None else each * self.rate / 1e6

    @property
    def seconds_ok_share(self) -> float | None:
        """The share of the measured seconds whose p99 met :data:`TARGET_MS`."""
        if self.seconds_ok is None or not self.seconds_ok[1]:
            return None
        return self.seconds_ok[0] / self.seconds_ok[1]

    @property
    def machine_stalls(self) -> float | None:
        """The stall witness's late wake-ups in the measured window (``None``: no report)."""
        return None if self.stalls is None else float(len(self.stalls.late))

    def describe(self) -> list[str]:
        visible = (
            f"visible to a read_committed consumer p50 {self.visible_p50_ms:.1f} ms, "
            f"p99 {self.visible_p99_ms:.1f} ms"
            if self.visible_p50_ms is not None and self.visible_p99_ms is not None
            else "visible latency not measured"
        )
        each, cores = self.service_us_per_reading, self.service_cores
        busy = (
            f" The service took {each:.1f} µs of CPU a reading (all its threads, from ready to"
            f" its last score): {cores:.2f} of a core at this rate."
            if each is not None and cores is not None
            else ""
        )
        return [
            f"Latency (e): live {self.producer} at {self.rate:,.0f} readings/s "
            f"({self.achieved:,.0f} achieved) for "
            f"{self.seconds:g} s ({self.readings:,} readings, {self.measured:,} after warm-up), "
            f"{self.note}: event-to-score (score CreateTime - reading CreateTime) "
            f"**p50 {self.p50_ms:.1f} ms, p99 {self.p99_ms:.1f} ms**, max {self.max_ms:.0f} ms; "
            f"{visible}.{busy}{self._episodes()}",
        ]

    def _episodes(self) -> str:
        """Where the tail came from: its seconds, and the machine's stalls meanwhile."""
        text = ""
        if self.seconds_ok is not None:
            ok, total = self.seconds_ok
            text += f" Seconds with p99 <= {TARGET_MS:g} ms: {ok} of {total}."
        if self.stalls is not None:
            late = self.stalls.late
            worst = f" (up to {max(ms for _, ms in late):.0f} ms)" if late else ""
            times = "once" if len(late) == 1 else f"{len(late)} times"
            text += (
                f" A sleeper at nice {self.stalls.niceness} (`bench.speed.stalls`) woke"
                f" {LATE_MS:g} ms or more late {times} in the measured window{worst}."
            )
        return text


def latencies(
    events: dict[tuple[str, int], int], scored: dict[tuple[str, int], int], after_ms: int
) -> list[float]:
    """Score time minus event time of every reading stamped at or after ``after_ms``.

    >>> latencies({("a", 1): 100, ("a", 2): 200}, {("a", 1): 130, ("a", 2): 205}, 150)
    [5.0]
    """
    return [latency for _, latency in _measured(events, scored, after_ms)]


def _measured(
    events: dict[tuple[str, int], int], scored: dict[tuple[str, int], int], after_ms: int
) -> list[tuple[int, float]]:
    """``(event time, latency)`` of every scored reading stamped at or after ``after_ms``."""
    return [
        (stamp, float(scored[key] - stamp))
        for key, stamp in events.items()
        if stamp >= after_ms and key in scored
    ]


def measure_latency(data: BenchInput, options: Options, peak: float | None) -> LatencyResult:
    """Run the live producer against a waiting service; see the module docstring."""
    rate = options.latency_rate or (peak / 2 if peak else 1000.0)
    readings = topics.unique("bench.readings.latency")
    names = arm_topics(data, "latency", readings=readings)
    run = ServiceRun("latency", options.kind, options.processing, options.snapshots)
    path = data.workdir / "latency.toml"
    config = write_config(path, data.bootstrap, names, run, data.commit_interval_s)
    watcher = _Visibility(data.bootstrap, names.scores, data.partitions)
    service, url = start_service(config, data.workdir, "latency", data.nice, data.live_cpus)
    try:
        topics.wait_until(lambda: is_ready(url), 180.0, "the latency service to be ready")
        ready_cpu_s = _cpu_s(service)
        witness = Child(
            "stalls",
            [sys.executable, "-m", "bench.speed.stalls"],
            data.workdir,
            cwd=REPO,
            cpus=data.live_cpus,
        )
        try:
            sent, achieved = _produce(data, options, config, readings, rate)
        finally:
            witness.stop(timeout_s=10.0)
        ends = topics.end_offsets(data.bootstrap, readings, data.partitions)
        group = Settings.load(config).serve.group_id
        drain(service, lambda: True, data.bootstrap, group, readings, ends, data.timeout_s)
        done_cpu_s = _cpu_s(service)
        time.sleep(1.0)  # the last transaction's scores reach the watcher
    finally:
        service.stop()
        watcher.stop()
    events = _stamps(data.bootstrap, readings)
    places: dict[tuple[int, int], tuple[str, int]] = {}
    scored = _stamps(data.bootstrap, names.scores, places)
    after = min(events.values(), default=0) + int(options.latency_seconds * 1000 / 5)
    measured = latencies(events, scored, after)
    last = max(events.values(), default=after)
    stalls = Stalls.parse(witness.output())
    if options.workdir is not None:  # each reading's event time and latency, for a closer look
        _dump(options.workdir / "latency.csv", events, scored)
    visible = latencies(events, watcher.visible(places), after)
    topics.delete(data.bootstrap, [readings, *_outputs(names)])
    if not measured:
        raise RuntimeError("no scores matched the live readings")
    return LatencyResult(
        rate=rate,
        seconds=options.latency_seconds,
        readings=sent,
        measured=len(measured),
        achieved=achieved,
        p50_ms=percentile(measured, 50),
        p99_ms=percentile(measured, 99),
        max_ms=max(measured),
        visible_p50_ms=percentile(visible, 50) if visible else None,
        visible_p99_ms=percentile(visible, 99) if visible else None,
        note=f"model.kind={options.kind}, serve.processing={options.processing}",
        producer=_PRODUCERS[options.latency_producer][1]
        + (", each partition's assets in turn" if _by_partition(options) else ""),
        service_cpu_s=(
            done_cpu_s - ready_cpu_s if done_cpu_s is not None and ready_cpu_s is not None else None
        ),
        seconds_ok=seconds_within(events, scored, after, TARGET_MS),
        stalls=None if stalls is None else stalls.within(after, last),
    )


def seconds_within(
    events: dict[tuple[str, int], int],
    scored: dict[tuple[str, int], int],
    after_ms: int,
    limit_ms: float,
) -> tuple[int, int]:
    """Of the seconds from ``after_ms`` (by event time) with at least 100 readings scored,
    how many had a p99 latency of at most ``limit_ms``, and how many there were.

    >>> events = {("a", t): 1000 + t for t in range(0, 3050, 10)}  # a last second of 5
    >>> scored = {key: stamp + (80 if 2000 <= stamp < 3000 else 5) for key, stamp in events.items()}
    >>> seconds_within(events, scored, 1000, 50.0)
    (2, 3)
    """
    by_second: dict[int, list[float]] = {}
    for stamp, latency in _measured(events, scored, after_ms):
        by_second.setdefault((stamp - after_ms) // 1000, []).append(latency)
    whole = [values for values in by_second.values() if len(values) >= 100]
    return sum(percentile(values, 99) <= limit_ms for values in whole), len(whole)


def _cpu_s(child: Child) -> float | None:
    """The CPU seconds of ``child`` so far (all its threads); ``None`` if it cannot be read."""
    try:
        return sample(child.process.pid).cpu_s
    except (OSError, ValueError):
        return None


def _by_partition(options: Options) -> bool:
    """Whether the live producer sends each partition's assets in turn."""
    return options.latency_order == "partition"


def _dump(
    path: Path, events: dict[tuple[str, int], int], scored: dict[tuple[str, int], int]
) -> None:
    rows = sorted((stamp, scored[key] - stamp) for key, stamp in events.items() if key in scored)
    path.write_text("event_ms,latency_ms\n" + "".join(f"{e},{lat}\n" for e, lat in rows))


def _outputs(names: TopicSettings) -> list[str]:
    return [names.labels, names.scores, names.alerts, names.deadletter, names.state]


_PRODUCERS = {
    "simulate": (["pipeline", "simulate"], "`linewatch simulate`"),
    "loadgen": (["bench.speed.loadgen"], "`simulate`'s messages encoded beforehand (loadgen)"),
}
"""``--latency-producer``: the module run and how the result names it."""


def _produce(
    data: BenchInput, options: Options, config: Path, topic: str, rate: float
) -> tuple[int, float]:
    """The live producer in real time into ``topic``; returns the readings the topic holds and
    the rate the producer says it achieved (readings/s)."""
    module = _PRODUCERS[options.latency_producer][0]
    argv = [sys.executable, "-m", *module, "--config", str(config)]
    argv += ["--assets", str(data.assets), "--rate", f"{rate:.1f}"]
    argv += ["--duration", f"{options.latency_seconds:g}", "--seed", "2"]
    if options.latency_producer == "simulate":  # it asks the topic for its partitions
        argv += ["--order", options.latency_order]
    elif _by_partition(options):
        argv += ["--partitions", str(data.partitions)]
    producer = Child("latency-producer", argv, data.workdir, cwd=REPO, cpus=data.live_cpus)
    cpu_s, deadline = 0.0, time.monotonic() + options.latency_seconds + 120
    while producer.process.poll() is None and time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError):  # it may exit meanwhile
            cpu_s = sample(producer.process.pid).cpu_s
        time.sleep(0.25)
    code = producer.process.wait(timeout=max(deadline - time.monotonic(), 1.0))
    output = producer.output()
    print(f"live producer: {cpu_s:.1f} CPU s (up to its last 0.25 s)", flush=True)
    producer.stop()
    if code != 0:
        raise RuntimeError(f"the live producer failed ({code}): {output[-2000:]}")
    ends = topics.end_offsets(data.bootstrap, topic, data.partitions)
    said = re.search(r"\(([\d,.]+) readings/s\)", output)
    return sum(ends.values()), float(said.group(1).replace(",", "")) if said else 0.0


def _key(message: Message) -> tuple[str, int]:
    body = orjson.loads(message.value() or b"{}")
    return str(body["asset"]), int(body["ts"])


def _stamps(
    bootstrap: str, topic: str, places: dict[tuple[int, int], tuple[str, int]] | None = None
) -> dict[tuple[str, int], int]:
    """``(asset, ts)`` -> Kafka timestamp (ms) of every committed message of ``topic``; with
    ``places``, also each message's ``(partition, offset)`` -> ``(asset, ts)`` into it."""
    stamps: dict[tuple[str, int], int] = {}

    def note(message: Message) -> None:
        key = _key(message)
        stamps[key] = message.timestamp()[1]
        if places is not None:
            places[(message.partition() or 0, message.offset() or 0)] = key

    topics.read_to_end(bootstrap, topic, note)
    return stamps


class _Visibility:
    """When each offset of ``topic`` became visible to ``read_committed`` consumers: its
    partitions' last stable offsets, polled every ``every_s`` (see the module docstring)."""

    def __init__(self, bootstrap: str, topic: str, partitions: int, every_s: float = 0.02):
        self._admin = AdminClient({"bootstrap.servers": bootstrap})
        self._specs: dict[TopicPartition, OffsetSpec] = {
            TopicPartition(topic, p): OffsetSpec.latest() for p in range(partitions)
        }
        self._every_s = every_s
        self.stable: list[tuple[int, int, int]] = []
        """``(wall ms, partition, last stable offset)`` each time a partition's moved on."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="score-visibility", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        last: dict[int, int] = {}
        while not self._stop.wait(self._every_s):
            asked = self._admin.list_offsets(
                self._specs, isolation_level=IsolationLevel.READ_COMMITTED, request_timeout=5
            )
            for place, future in asked.items():
                with contextlib.suppress(KafkaException):  # missed: the next poll tells
                    info: Any = future.result()  # ListOffsetsResultInfo (untyped .offset)
                    stable = int(info.offset)
                    if stable > last.get(place.partition, 0):
                        last[place.partition] = stable
                        self.stable.append((int(time.time() * 1000), place.partition, stable))

    def visible(self, places: dict[tuple[int, int], tuple[str, int]]) -> dict[tuple[str, int], int]:
        """``(asset, ts)`` -> when (wall ms) its score became visible, for the scores at
        ``places`` (``(partition, offset)`` -> ``(asset, ts)``, from :func:`_stamps`)."""
        seen: dict[tuple[str, int], int] = {}
        below: dict[int, int] = {}
        for now, partition, stable in self.stable:
            for offset in range(below.get(partition, 0), stable):
                key = places.get((partition, offset))
                if key is not None:
                    seen[key] = now
            below[partition] = stable
        return seen

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
