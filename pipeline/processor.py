"""The data path without Kafka: bytes in, a Score (and maybe an Alert) or a dead letter out.

``Processor`` holds one model and one alert policy per asset. It is what ``serve`` runs for
every message, and what tests and file tools call directly.

Examples
--------
>>> from pipeline.settings import Settings
>>> processor = Processor(Settings.load(None))
>>> processor.process(b'{"asset": "p", "ts": 1, "values": {"t": 1.0}}').score.asset
'p'
>>> processor.process(b'{"asset": "p", "ts": 1, "values": {"t": 1.0}}').dead_letter.reason
'duplicate'
>>> processor.process(b'not json').dead_letter.reason
'malformed_json'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import cast

import msgspec

from pipeline.alerts import AlertPolicy, top_channels
from pipeline.decoding import ReadingDecoder
from pipeline.detectors import Detector, TimeAware, build_detector
from pipeline.errors import DecodeError
from pipeline.fastpath import BatchPath, Entry
from pipeline.messages import Alert, Label, Reading, Score, decode_label
from pipeline.row_decoding import row_dict
from pipeline.settings import Settings
from pipeline.supervised.held import HeldLabels
from pipeline.supervised.supervisor import Supervisor

__all__ = ["AssetState", "DeadLetter", "Outcome", "Processor", "Source"]


@dataclass(frozen=True, slots=True)
class Source:
    """Where a message came from, for dead letters and logs."""

    topic: str = ""
    partition: int = -1
    offset: int = -1
    key: bytes | None = None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message that could not be processed, with the reason and where it came from."""

    value: bytes | None
    source: Source
    reason: str
    message: str
    error_class: str = "DecodeError"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one message produced: a score (plus an alert on a state change) or a dead letter.

    ``reading`` is the decoded reading behind a score (for metrics of its channel values);
    ``fault_alert`` a change of the asset's alarm on its fault probability (supervised).
    """

    score: Score | None = None
    alert: Alert | None = None
    dead_letter: DeadLetter | None = None
    reading: Reading | None = None
    fault_alert: Alert | None = None


@dataclass(slots=True)
class AssetState:
    """Everything the service remembers about one asset."""

    model: Detector
    policy: AlertPolicy
    last_ts: int = -1
    last_seq: int | None = None
    last_values: dict[str, float] | msgspec.Struct = field(default_factory=dict)
    """The last reading's values: a dict, or the row the batch path decoded them into
    (:mod:`pipeline.row_decoding`: it pickles and encodes as the dict)."""


class Processor:
    """Decode, validate, score, learn and apply the alert policy; a batch or a message at a time.

    :meth:`process_batch` is the service's hot path (:mod:`pipeline.fastpath`); :meth:`process`
    and :meth:`process_reading` are batches of one, so every path gives the same outcomes.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.assets: dict[str, AssetState] = {}
        known = settings.serve.known_assets
        self._known_assets = frozenset(known) if known is not None else None
        self.supervisor = Supervisor(settings) if settings.supervised.enabled else None
        self.decoder = ReadingDecoder(settings.serve.max_message_bytes)
        self._batch = BatchPath(self)
        self.held: HeldLabels[Label | DeadLetter] = HeldLabels(
            int(settings.supervised.label_delay_s * 1000)
        )
        """Labels of the service waiting for their partition's readings (:meth:`hold_label`)."""
        self.released: list[tuple[Source, DeadLetter | None]] = []
        """Held labels applied (``None``) or dead-lettered since the service last took them."""

    def process(self, value: bytes | None, source: Source = Source()) -> Outcome:
        """Process one raw message; never raises for bad input."""
        return self.process_batch([(value, source)])[0]

    def process_batch(self, messages: Sequence[tuple[bytes | None, Source]]) -> Sequence[Outcome]:
        """Process raw messages in order, one outcome each; never raises for bad input.

        Without supervision the outcomes are an :class:`~pipeline.outcomes.Outcomes`, which
        the service emits without making an Outcome object per fleet-scored reading; the
        batch path decodes and checks the messages itself
        (:meth:`~pipeline.fastpath.BatchPath.run_messages`).
        """
        if self.supervisor is None:
            return self._batch.run_messages(messages)
        return self._run(self.entries(messages))

    def entries(self, messages: Sequence[tuple[bytes | None, Source]]) -> list[Entry]:
        """Each message decoded (and its key checked): its reading or its dead letter."""
        decoded = self.decoder.decode_many([value for value, _ in messages])
        return [
            self._entry(value, source, reading)
            for (value, source), reading in zip(messages, decoded, strict=True)
        ]

    def entry(self, value: bytes | None, source: Source) -> Reading | DeadLetter:
        """One message decoded (and its key checked): its reading or its dead letter."""
        return self._entry(value, source, self.decoder.decode_many([value])[0])[0]

    def _entry(self, value: bytes | None, source: Source, reading: Reading | DecodeError) -> Entry:
        if type(reading) is Reading:
            key = source.key
            if key is None or key == reading.asset.encode():
                return (reading, value, source)
            try:
                self._check_key(reading, source)
            except DecodeError as exc:
                reading = exc
        assert isinstance(reading, DecodeError)
        return (DeadLetter(value, source, reading.reason, reading.message), value, source)

    def process_reading(
        self, reading: Reading, *, value: bytes | None = None, source: Source = Source()
    ) -> Outcome:
        """Process one decoded reading (what ``detect`` calls); never raises for bad input.

        The asset is scored by its own per-reading detector, which is faster for one reading
        than a fleet's arrays and gives the same scores (to 1e-9; see ``test_fleet.py``).
        ``value`` and ``source`` only fill in a dead letter's origin.
        """
        if self.supervisor is None and self._batch.fleet_kind is None:
            return self._batch.alone(reading, value, source)  # the same, without a batch
        return self._run([(reading, value, source)], fleets=False)[0]

    def _run(self, entries: Sequence[Entry], fleets: bool = True) -> Sequence[Outcome]:
        """The batch path, then the label join (:mod:`pipeline.supervised`) in message order."""
        outcomes = self._batch.run(entries, fleets=fleets)
        supervisor = self.supervisor
        if supervisor is None:
            return outcomes
        if not self.held:
            return [self._supervise(supervisor, o) if o.score is not None else o for o in outcomes]
        supervised = []
        for (_, _, source), outcome in zip(entries, outcomes, strict=True):
            if outcome.score is not None:
                self._release(source.partition, outcome.score.ts)
                outcome = self._supervise(supervisor, outcome)
            supervised.append(outcome)
        return supervised

    @staticmethod
    def _supervise(supervisor: Supervisor, outcome: Outcome) -> Outcome:
        assert outcome.score is not None and outcome.reading is not None
        score, fault_alert = supervisor.attach(outcome.reading, outcome.score)
        return Outcome(score, outcome.alert, reading=outcome.reading, fault_alert=fault_alert)

    def process_label(self, value: bytes | None, source: Source = Source()) -> DeadLetter | None:
        """Decode a label and give it to the supervised models now; a dead letter if it is bad."""
        label = self._decode_label(value, source)
        if isinstance(label, DeadLetter):
            return label
        if self.supervisor is not None:
            self.supervisor.on_label(label)
        return None

    def hold_label(self, value: bytes | None, source: Source) -> None:
        """Hold a consumed label until its partition's readings reach it (the service's path).

        The label is applied before the first reading of ``source.partition`` at or after
        ``label.ts + supervised.label_delay_s`` (:mod:`pipeline.supervised.held`), so the
        predictions do not depend on how the two topics' fetches interleaved. Applied labels
        and dead letters are appended to :attr:`released`, in offset order per partition.
        """
        label = self._decode_label(value, source)
        ts = None if isinstance(label, DeadLetter) else label.ts
        self.held.hold(source.partition, source.offset, ts, label)
        self._release(source.partition, -(1 << 62))  # a bad label at the head goes at once

    def take_released(self) -> list[tuple[Source, DeadLetter | None]]:
        """The held labels released since the last call (``None``: applied, else its letter)."""
        released, self.released = self.released, []
        return released

    def _release(self, partition: int, ts: int) -> None:
        for offset, item in self.held.due(partition, ts):
            if isinstance(item, DeadLetter):
                self.released.append((item.source, item))
                continue
            if self.supervisor is not None:
                self.supervisor.on_label(item)
            key = item.asset.encode()
            self.released.append(
                (Source(self.settings.topics.labels, partition, offset, key), None)
            )

    def _decode_label(self, value: bytes | None, source: Source) -> Label | DeadLetter:
        try:
            label = decode_label(value, self.settings.serve.max_message_bytes)
            self._check_key(label, source)
            if self._known_assets is not None and label.asset not in self._known_assets:
                raise DecodeError("unknown_asset", f"asset {label.asset!r} is not configured")
        except DecodeError as exc:
            return DeadLetter(value, source, exc.reason, exc.message)
        return label

    def _score(self, reading: Reading, x: dict[str, float], state: AssetState) -> Outcome:
        if _time_aware(type(state.model)):
            cast(TimeAware, state.model).observe_time(reading.ts)
        score = state.model.score_one(x)
        contributions = state.model.contributions(x)
        anomalous = state.policy.is_anomalous(score)
        learn_anomalies = self.settings.model.learn_anomalies
        if (learn_anomalies or not anomalous) and not state.model.is_outlier(x):
            state.model.learn_one(x)  # never teach the model what an anomaly looks like
        alert = state.policy.evaluate(
            reading.ts, score, top_channels(contributions), state.model.name
        )
        state.last_ts, state.last_seq, state.last_values = reading.ts, reading.seq, reading.values
        result = Score(
            asset=reading.asset,
            ts=reading.ts,
            score=round(score, 6),
            threshold=round(state.policy.threshold, 6),
            anomaly=anomalous,
            model=state.model.name,
            contributions=contributions,
        )
        return Outcome(score=result, alert=alert, reading=reading)

    def _check_key(self, reading: Reading | Label, source: Source) -> None:
        if source.key is not None and source.key != reading.asset.encode():
            raise DecodeError(
                "key_mismatch",
                f"message key {source.key[:40]!r} differs from asset {reading.asset!r}",
            )

    def _state_for(self, reading: Reading) -> AssetState:
        state = self.assets.get(reading.asset)
        if state is not None:
            return state
        if self._known_assets is not None and reading.asset not in self._known_assets:
            raise DecodeError("unknown_asset", f"asset {reading.asset!r} is not configured")
        state = AssetState(
            model=build_detector(self.settings.model),
            policy=AlertPolicy(reading.asset, self.settings.alerts),
        )
        self.assets[reading.asset] = state
        return state

    @staticmethod
    def _check_order(reading: Reading, state: AssetState) -> None:
        if reading.seq is not None and state.last_seq is not None:
            if reading.seq == state.last_seq:
                raise DecodeError("duplicate", f"seq {reading.seq} was already processed")
            if reading.seq < state.last_seq:
                raise DecodeError(
                    "out_of_order", f"seq {reading.seq} arrived after seq {state.last_seq}"
                )
        if reading.ts < state.last_ts:
            raise DecodeError(
                "out_of_order", f"ts {reading.ts} is older than the last ts {state.last_ts}"
            )
        last = state.last_values  # a dict, or the row the batch path decoded
        if reading.ts == state.last_ts and reading.values == (
            last if type(last) is dict else row_dict(last)
        ):
            raise DecodeError("duplicate", f"reading at ts {reading.ts} was already processed")


@cache
def _time_aware(kind: type) -> bool:
    """Whether a detector class takes timestamps (a protocol ``isinstance`` costs microseconds
    per reading; the answer depends on the class only)."""
    return issubclass(kind, TimeAware)
