"""A small simulated fleet, its processors' partition states and a commit cycle with fake
Kafka clients: what the checkpoint tests of state copies and compact snapshots share."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from prometheus_client import CollectorRegistry

from pipeline.background import BackgroundCommit
from pipeline.checkpoints import CommitCycle
from pipeline.metrics import ServiceMetrics
from pipeline.partitions import PartitionStates
from pipeline.processor import Processor, Source
from pipeline.produce import Output
from pipeline.settings import Settings
from producers.fleet import Encoded, Fleet

ASSETS = 12
Batches = list[list[tuple[bytes | None, Source]]]


def settings_for(compact: bool, **model: Any) -> Settings:
    """Exactly-once with snapshots, compact or pickled, and the given model settings."""
    return Settings.load(
        None,
        state={"hmac_key": "k", "compact_snapshots": compact},
        serve={"processing": "exactly_once"},
        model=model,
        alerts={"warmup": 5, "adaptive": True},
    )


def fleet_batches(ticks: int, seed: int) -> Batches:
    """Batches of a simulated fleet's readings (one tick of every asset each), in order."""
    fleet = Fleet(ASSETS, seed=seed, interval_s=1.0, start_ts_ms=1_000_000)
    messages: list[tuple[bytes | None, Source]] = [
        (record.payload, Source("readings", 0, offset, record.asset.encode()))
        for offset, record in enumerate(fleet.encoded(ticks))
        if isinstance(record, Encoded)
    ]
    return [messages[i : i + ASSETS] for i in range(0, len(messages), ASSETS)]


def scores(processor: Processor, batches: Batches) -> list[Any]:
    return [outcome.score for batch in batches for outcome in processor.process_batch(batch)]


def partition_states(settings: Settings, processor: Processor) -> PartitionStates:
    """The processor's states, every asset touched (in partition 0)."""
    states = PartitionStates(settings, processor.assets, ServiceMetrics(CollectorRegistry()))
    states.touch_all({asset: 0 for asset in processor.assets})
    return states


def restored_processor(settings: Settings, snapshots: list[tuple[str, int, bytes]]) -> Processor:
    """A new processor with the signed ``snapshots`` decoded into its states."""
    processor = Processor(settings)
    codec = partition_states(settings, processor).codec
    assert codec is not None
    processor.assets.update({a: codec.decode(a, value) for a, _, value in snapshots})
    return processor


class RecordingOutputs:
    """Records what is produced into the transaction and what is committed with it."""

    def __init__(self) -> None:
        self.produced: list[tuple[str, bytes]] = []
        self.commits: list[tuple[object, list[tuple[str, bytes]]]] = []

    def produce(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Any,
        partition: int,
        timestamp: int = 0,
    ) -> None:
        assert key is not None and value is not None
        self.produced.append((key.decode(), value))

    def produce_many(
        self, topic: str, records: Iterable[tuple[bytes | None, bytes]], headers: Any
    ) -> None:
        for key, value in records:
            self.produce(topic, key, value, headers, -1)

    def produce_all(self, outputs: Sequence[Output]) -> None:
        for output in outputs:
            self.produce(*output)

    def commit(self, offsets: object, consumer: object, metadata: object) -> None:
        self.commits.append((offsets, list(self.produced)))
        self.produced = []


class Positions:
    """The offsets a checkpoint commits: whatever the test sets."""

    def __init__(self) -> None:
        self.offsets_now: list[object] = []

    def offsets(self) -> list[object]:
        return self.offsets_now

    def discard(self) -> None:
        pass


class _Consumer:
    def consumer_group_metadata(self) -> object:
        return object()


def commit_cycle(
    settings: Settings, states: PartitionStates, positions: Positions, outputs: RecordingOutputs
) -> CommitCycle:
    """A background commit cycle over ``states`` into ``outputs`` (no Kafka)."""
    return CommitCycle(
        settings,
        ServiceMetrics(CollectorRegistry()),
        states,
        cast(Any, positions),
        BackgroundCommit(max_held=10_000),
        outputs=lambda: cast(Any, outputs),
        consumer=lambda: cast(Any, _Consumer()),
        renew_outputs=lambda: None,
    )


@dataclass
class Checkpointed:
    """A live processor and its untouched twin after ``TICKS`` ticks, and a background
    checkpoint of the live one begun there (``began``: what ``checkpoint`` returned)."""

    settings: Settings
    batches: Batches
    live: Processor
    twin: Processor
    states: PartitionStates
    outputs: RecordingOutputs
    cycle: CommitCycle
    began: bool

    TICKS = 60

    def go_on(self, batch: list[tuple[bytes | None, Source]]) -> None:
        """The service scores one more batch after the checkpoint: its states change (the
        snapshots owed from them are taken first, as the service does)."""
        self.states.take(source.key for _, source in batch)
        self.live.process_batch(batch)
        self.states.touch_all({asset: 0 for asset in self.live.assets})
        self.cycle.pending += len(batch)


def checkpoint_begun(settings: Settings, seed: int) -> Checkpointed:
    """:class:`Checkpointed` over 80 ticks of a fleet simulated with ``seed``; the checkpoint
    commits the offsets ``["offsets of checkpoint N"]``, later ones are another value."""
    batches = fleet_batches(80, seed=seed)
    live, twin = Processor(settings), Processor(settings)
    scores(live, batches[: Checkpointed.TICKS])
    scores(twin, batches[: Checkpointed.TICKS])
    states, positions, outputs = partition_states(settings, live), Positions(), RecordingOutputs()
    cycle = commit_cycle(settings, states, positions, outputs)
    positions.offsets_now = ["offsets of checkpoint N"]
    cycle.pending = Checkpointed.TICKS * ASSETS
    began = cycle.checkpoint(background=True)
    positions.offsets_now = ["offsets after it"]
    return Checkpointed(settings, batches, live, twin, states, outputs, cycle, began)
