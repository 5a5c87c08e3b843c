"""The batch data path: a consumed batch in, one Outcome per message out, in order.

:meth:`Processor.process_batch <pipeline.processor.Processor.process_batch>` hands the decoded
batch to :class:`BatchPath`. Checks come first, message by message in order (unknown asset,
duplicate, out of order, no model channels: the dead letters of the per-message path). Then:

- assets whose detector has a fleet implementation (``mahalanobis``, ``zscore``; see
  :mod:`pipeline.detectors.fleet`) are grouped by channel layout and scored in *rounds*: the
  first reading of every asset in the batch, then the second, ... Each asset sees its
  readings strictly in order; a round costs a few array operations whatever its size.
- every other asset is scored by its own per-reading detector, as before.

The alert policy stays one small state machine per asset, run in order. A reading gets exactly
the outcome the per-message path gives it: ``process`` is a batch of one. ``process_reading``
(``detect``, ``evaluate``) runs with ``fleets=False``: each asset keeps its per-reading
detector, faster for one reading at a time, with the same scores to 1e-9.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import MISSING, fields
from itertools import chain
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec
import numpy as np

from pipeline.alerts import evaluate_round
from pipeline.decoding import WireReading
from pipeline.detectors.fleet import Fleet, FleetSlot, python_round, shares_dict
from pipeline.detectors.fleet_mahalanobis import MahalanobisFleet
from pipeline.detectors.fleet_zscore import ZScoreFleet
from pipeline.errors import DecodeError
from pipeline.features import select_features
from pipeline.messages import Reading
from pipeline.outcomes import Outcomes, ScoredRound
from pipeline.settings import ModelSettings

if TYPE_CHECKING:
    from pipeline.processor import AssetState, DeadLetter, Outcome, Processor, Source

T = TypeVar("T")

__all__ = ["BatchPath", "Entry"]

Entry = tuple["Reading | DeadLetter", "bytes | None", "Source"]
"""A decoded message (or its dead letter), its raw value and where it came from."""

_MAX_LAYOUTS = 1024
_INT64_END = 2**63


_Pending = tuple[int, "Reading | WireReading", "AssetState", FleetSlot, Iterable[float]]
"""A reading queued for its fleet: its index in the batch, state, slot and channel values."""


class BatchPath:
    """Scores batches for one :class:`~pipeline.processor.Processor` (its fleets live here)."""

    def __init__(self, processor: Processor) -> None:
        self.processor = processor
        model = processor.settings.model
        fleet = model.kind in _FLEETS and not model.drift and model.refractory_level is None
        self.fleet_kind = model.kind if fleet else None
        self.fleets: dict[tuple[str, ...], Fleet] = {}
        self._members: dict[str, FleetSlot] = {}
        self._use_fleets = True
        self._checked = (0, -1)
        self._layouts: dict[tuple[str, ...], tuple[tuple[str, ...], bool] | None] = {}
        self._accepted: dict[tuple[str, ...], tuple[tuple[str, ...], bool]] = {}
        """The layouts of readings the checked decoder accepted (:meth:`run_messages`)."""
        alerts = processor.settings.alerts
        self._fixed_threshold = None if alerts.adaptive else round(alerts.threshold, 6)
        self._learn_anomalies = model.learn_anomalies

    def run(self, entries: Sequence[Entry], fleets: bool = True) -> Outcomes:
        """One outcome per entry, in order; ``fleets=False`` scores every asset on its own."""
        self._use_fleets = fleets
        self._collect_garbage()
        outcomes = Outcomes(len(entries))
        pending: list[_Pending] = []
        pending_assets: set[str] = set()
        for index, (item, value, source) in enumerate(entries):
            self._entry(index, item, value, source, pending, pending_assets, outcomes)
        self._flush(pending, outcomes)
        return outcomes

    def alone(self, reading: Reading, value: bytes | None, source: Source) -> Outcome:
        """:meth:`run`'s outcome for a batch of just ``reading`` when no fleet is configured
        (``fleet_kind`` is ``None``): the checks, then the asset's own detector, without the
        batch's bookkeeping (``detect`` and ``evaluate`` call it once a reading)."""
        assert self.fleet_kind is None
        try:
            state, _ = self._admit(reading)
        except DecodeError as exc:
            from pipeline.processor import DeadLetter, Outcome

            return Outcome(dead_letter=DeadLetter(value, source, exc.reason, exc.message))
        x = select_features(reading, self.processor.settings.model.channels)
        return self.processor._score(reading, x, state)

    def run_messages(self, messages: Sequence[tuple[bytes | None, Source]]) -> Outcomes:
        """:meth:`run` of the messages' entries (``Processor.process_batch`` without
        supervision), decoding and checking each message in the same loop.

        The common message, a reading of an asset in a fleet with a channel layout accepted
        before, in order and with its key, is decoded into a :class:`WireReading` and queued
        for its fleet at once; the checks it skips (the asset id's and channel names') passed
        when that asset and that layout were first accepted. Any other message takes the
        long way: the checked decoder, the key check, then :meth:`run`'s own steps. The
        outcomes are :meth:`run`'s (``tests/pipeline/test_wire_lane.py``).
        """
        self._use_fleets = True
        self._collect_garbage()
        outcomes = Outcomes(len(messages))
        pending: list[_Pending] = []
        pending_assets: set[str] = set()
        processor = self.processor
        assets, members, accepted = processor.assets, self._members, self._accepted
        decode, max_bytes = processor.decoder.wire, processor.decoder.max_bytes
        for index, (value, source) in enumerate(messages):
            if value is not None and len(value) <= max_bytes:
                try:
                    wire = decode(value)
                except (msgspec.DecodeError, ValueError):  # the long way says why
                    wire = None
                if wire is not None:
                    asset, values, ts, seq, key = (
                        wire.asset,
                        wire.values,
                        wire.ts,
                        wire.seq,
                        source.key,
                    )
                    state = assets.get(asset)
                    layout = accepted.get(tuple(values))
                    if (
                        state is not None
                        and layout is not None
                        and type(model := state.model) is FleetSlot
                        and members.get(asset) is model
                        and model.fleet.channels == layout[0]
                        and 0 <= ts < _INT64_END
                        and (key is None or key == asset.encode())
                        and (
                            seq is None
                            or (
                                0 <= seq < _INT64_END
                                and ((last_seq := state.last_seq) is None or seq > last_seq)
                            )
                        )
                        and (
                            ts > (last_ts := state.last_ts)
                            or (ts == last_ts and values != state.last_values)
                        )
                    ):
                        state.last_ts, state.last_seq, state.last_values = ts, seq, values
                        row = values.values() if layout[1] else [values[n] for n in layout[0]]
                        pending.append((index, wire, state, model, row))
                        pending_assets.add(asset)
                        continue
            item = processor.entry(value, source)
            self._entry(index, item, value, source, pending, pending_assets, outcomes)
            if type(item) is Reading:
                self._accept(item.values)
        self._flush(pending, outcomes)
        return outcomes

    def _accept(self, values: dict[str, float]) -> None:
        """Note the channel layout of a reading the checked decoder accepted."""
        key = tuple(values)
        if key not in self._accepted and len(self._accepted) < _MAX_LAYOUTS:
            layout = self._layout(values)
            if layout is not None:
                self._accepted[key] = layout

    def _entry(
        self,
        index: int,
        item: Reading | DeadLetter,
        value: bytes | None,
        source: Source,
        pending: list[_Pending],
        pending_assets: set[str],
        outcomes: Outcomes,
    ) -> None:
        """One entry of :meth:`run`: a dead letter's outcome, or the reading queued or scored."""
        from pipeline.processor import Outcome

        if type(item) is not Reading:
            outcomes.items[index] = Outcome(dead_letter=item)  # type: ignore[arg-type]
            return
        # the common case inline: a known fleet asset, in order (the checks of
        # Processor._check_order pass), with its usual channels
        asset, values, ts, seq = item.asset, item.values, item.ts, item.seq
        state = self.processor.assets.get(asset)
        layout = self._layouts.get(tuple(values))
        if (
            self._use_fleets
            and state is not None
            and layout is not None
            and type(model := state.model) is FleetSlot
            and self._members.get(asset) is model
            and model.fleet.channels == layout[0]
            and (seq is None or (last_seq := state.last_seq) is None or seq > last_seq)
            and (ts > (last_ts := state.last_ts) or (ts == last_ts and values != state.last_values))
        ):
            state.last_ts, state.last_seq, state.last_values = ts, seq, values
            row = values.values() if layout[1] else [values[n] for n in layout[0]]
            pending.append((index, item, state, model, row))
            pending_assets.add(asset)
            return
        self._one(index, item, value, source, pending, pending_assets, outcomes)

    def _one(
        self,
        index: int,
        item: Reading,
        value: bytes | None,
        source: Source,
        pending: list[_Pending],
        pending_assets: set[str],
        outcomes: Outcomes,
    ) -> None:
        """Any reading, the long way: checks, fleet membership, then queue or score it."""
        from pipeline.processor import DeadLetter, Outcome

        try:
            state, layout = self._admit(item)
        except DecodeError as exc:
            letter = DeadLetter(value, source, exc.reason, exc.message)
            outcomes.items[index] = Outcome(dead_letter=letter)
            return
        slot = self._slot(item.asset, state, layout, pending, pending_assets, outcomes)
        if slot is None:
            x = select_features(item, self.processor.settings.model.channels)
            outcomes.items[index] = self.processor._score(item, x, state)
            return
        assert layout is not None
        values = item.values
        row = list(values.values()) if layout[1] else [values[n] for n in layout[0]]
        pending.append((index, item, state, slot, row))
        pending_assets.add(item.asset)

    # --- checks ---------------------------------------------------------------------------

    def _admit(self, reading: Reading) -> tuple[AssetState, tuple[tuple[str, ...], bool] | None]:
        """The asset's state after the per-message checks, and the reading's channel layout."""
        processor = self.processor
        state = processor._state_for(reading)
        processor._check_order(reading, state)
        layout = self._layout(reading.values)
        if layout is None:
            raise DecodeError("missing_field", "reading has none of the model's channels")
        state.last_ts, state.last_seq, state.last_values = reading.ts, reading.seq, reading.values
        return state, layout

    def _layout(self, values: dict[str, float]) -> tuple[tuple[str, ...], bool] | None:
        """The model's channels in ``values`` (sorted) and whether ``values`` has just those."""
        key = tuple(values)
        if key in self._layouts:
            return self._layouts[key]
        configured = self.processor.settings.model.channels
        present = key if configured is None else [n for n in configured if n in values]
        channels = tuple(sorted(present))
        layout = (channels, channels == key) if channels else None
        if len(self._layouts) < _MAX_LAYOUTS:
            self._layouts[key] = layout
        return layout

    # --- fleet membership -----------------------------------------------------------------

    def _slot(
        self,
        asset: str,
        state: AssetState,
        layout: tuple[tuple[str, ...], bool] | None,
        pending: list[_Pending],
        pending_assets: set[str],
        outcomes: Outcomes,
    ) -> FleetSlot | None:
        """The asset's fleet slot for this reading, or ``None`` to score it per reading."""
        model = state.model
        if self.fleet_kind is None or layout is None or not self._use_fleets:
            if isinstance(model, FleetSlot):  # leaves the fleet
                self._leave(asset, state, model, pending, pending_assets, outcomes)
            return None
        fleet = self._fleet(layout[0])
        if isinstance(model, FleetSlot) and self._members.get(asset) is model:
            if model.fleet is fleet:
                return model
        elif not isinstance(model, FleetSlot) and (row := fleet.absorb(model)) is not None:
            return self._own(asset, state, FleetSlot(fleet, row))
        if isinstance(model, FleetSlot):
            self._leave(asset, state, model, pending, pending_assets, outcomes)
            if (row := fleet.absorb(state.model)) is not None:
                return self._own(asset, state, FleetSlot(fleet, row))
        return None

    def _leave(
        self,
        asset: str,
        state: AssetState,
        slot: FleetSlot,
        pending: list[_Pending],
        pending_assets: set[str],
        outcomes: Outcomes,
    ) -> None:
        """Give ``asset`` its per-reading detector back, in the state of its fleet row."""
        if asset in pending_assets:  # finish what it queued first
            self._flush(pending, outcomes)
            pending.clear()
            pending_assets.clear()
        state.model = slot.fleet.materialise(slot.row)
        self._disown(asset, slot)

    def _fleet(self, channels: tuple[str, ...]) -> Fleet:
        fleet = self.fleets.get(channels)
        if fleet is None:
            settings = self.processor.settings.model
            build = _FLEETS[self.fleet_kind or ""]
            fleet = self.fleets[channels] = build(channels, settings)
        return fleet

    def _own(self, asset: str, state: AssetState, slot: FleetSlot) -> FleetSlot:
        self._disown(asset, self._members.get(asset))
        state.model = self._members[asset] = slot
        return slot

    def _disown(self, asset: str, model: object) -> None:
        if isinstance(model, FleetSlot) and self._members.get(asset) is model:
            del self._members[asset]
            model.fleet.release(model.row)
            model.row = -1  # a copy of its state elsewhere now; pickling it is a mistake

    def _collect_garbage(self) -> None:
        """Release the rows of assets that left ``Processor.assets`` (dropped or replaced)."""
        assets = self.processor.assets
        if (id(assets), len(assets)) == self._checked:
            return
        self._checked = (id(assets), len(assets))
        for asset, slot in list(self._members.items()):
            state = assets.get(asset)
            if state is None or state.model is not slot:
                del self._members[asset]
                slot.fleet.release(slot.row)
                slot.row = -1

    # --- scoring --------------------------------------------------------------------------

    def _flush(self, pending: list[_Pending], outcomes: Outcomes) -> None:
        if not pending:
            return
        fleet = pending[0][3].fleet
        by_fleet: dict[Fleet, list[_Pending]] = {fleet: pending}
        if any(item[3].fleet is not fleet for item in pending):  # several layouts
            by_fleet = {}
            for item in pending:
                by_fleet.setdefault(item[3].fleet, []).append(item)
        for items in by_fleet.values():
            self._score_fleet(items, outcomes)

    def _score_fleet(self, items: list[_Pending], outcomes: Outcomes) -> None:
        fleet = items[0][3].fleet
        width = len(fleet.channels)
        flat = chain.from_iterable([item[4] for item in items])
        values = np.fromiter(flat, np.float64, len(items) * width).reshape(len(items), width)
        rows = [item[3].row for item in items]
        if len(set(rows)) == len(rows):  # the usual batch: one reading per asset, one round
            self._score_round(fleet, np.array(rows, dtype=np.int64), values, items, outcomes)
            return
        at = np.array(rows, dtype=np.int64)
        turns = _turns(at)
        for turn in range(int(turns.max()) + 1):  # the first reading of each asset, the second...
            members = np.flatnonzero(turns == turn)
            batch = [items[p] for p in members.tolist()]
            self._score_round(fleet, at[members], values[members], batch, outcomes)

    def _score_round(
        self,
        fleet: Fleet,
        rows: np.ndarray,
        values: np.ndarray,
        batch: list[_Pending],
        outcomes: Outcomes,
    ) -> None:
        result = fleet.score(rows, values)
        scores, shares = result.scores, result.contributions
        readings = [item[1] for item in batch]
        policies = [item[2].policy for item in batch]
        ts = [r.ts for r in readings]
        anomalous, alerts = evaluate_round(
            policies, ts, scores, lambda i: _top(shares_dict(shares[i])), fleet.name
        )
        learn = ~np.array(result.outliers, dtype=np.bool_)
        if not self._learn_anomalies:  # never teach the model what an anomaly looks like
            learn &= ~np.array(anomalous, dtype=np.bool_)
        fleet.learn(result, learn)
        rounded = python_round(np.array(scores), 6).tolist()
        if self._fixed_threshold is not None:
            thresholds = [self._fixed_threshold] * len(batch)
        else:
            thresholds = [round(policy.threshold, 6) for policy in policies]
        positions = [item[0] for item in batch]
        assets = [r.asset for r in readings]
        outcomes.add(
            ScoredRound(
                positions=positions,
                readings=readings,
                assets=assets,
                ts=ts,
                scores=rounded,
                thresholds=thresholds,
                anomalous=anomalous,
                model=fleet.name,
                contributions=shares,
                alerts=alerts,
            )
        )


def _turns(rows: np.ndarray) -> np.ndarray:
    """For each position, how many times its row came before it (0 for the first).

    >>> _turns(np.array([5, 3, 5, 5, 3, 9])).tolist()
    [0, 0, 1, 2, 1, 0]
    """
    count = len(rows)
    order = np.argsort(rows, kind="stable")
    ordered = rows[order]
    starts = np.ones(count, dtype=np.bool_)
    starts[1:] = ordered[1:] != ordered[:-1]
    index = np.arange(count)
    first = np.maximum.accumulate(np.where(starts, index, 0))
    turns = np.empty(count, dtype=np.int64)
    turns[order] = index - first
    return turns


def _constant(value: object) -> Callable[[], object]:
    return lambda: value


def frozen_maker(cls: type[T], names: Sequence[str]) -> Callable[..., T]:
    """A constructor of the frozen slots dataclass ``cls`` from the fields ``names``, in order.

    It sets the slots as the dataclass's own ``__init__`` does (``object.__setattr__``), the
    other fields to their defaults, minus the generic machinery: half the time, and a Score is
    made for every reading.

    >>> from pipeline.processor import Source
    >>> make = frozen_maker(Source, ["topic", "offset"])
    >>> make("t", 7) == Source("t", offset=7)
    True
    """
    others = [f for f in fields(cls) if f.name not in names]  # type: ignore[arg-type]
    defaults: list[tuple[Callable[[Any, Any], None], Callable[[], Any]]] = []
    for f in others:
        if f.default_factory is not MISSING:
            defaults.append((getattr(cls, f.name).__set__, f.default_factory))
        elif f.default is not MISSING:
            defaults.append((getattr(cls, f.name).__set__, _constant(f.default)))
        else:
            raise TypeError(f"field {f.name!r} of {cls.__name__} has no default")
    # unrolled, as dataclasses writes __init__: a loop over the fields costs as much as it saves
    arguments = ", ".join(f"v{i}" for i in range(len(names)))
    lines = [f"def make({arguments}):", "    instance = new(cls)"]
    lines += [f"    set{i}(instance, v{i})" for i in range(len(names))]
    lines += [f"    default_set{j}(instance, default{j}())" for j in range(len(defaults))]
    lines += ["    return instance"]
    namespace: dict[str, Any] = {"new": object.__new__, "cls": cls}
    namespace.update({f"set{i}": getattr(cls, name).__set__ for i, name in enumerate(names)})
    for j, (setter, default) in enumerate(defaults):
        namespace[f"default_set{j}"], namespace[f"default{j}"] = setter, default
    exec("\n".join(lines), namespace)  # noqa: S102 - fixed code over field positions
    make: Callable[..., T] = namespace["make"]
    return make


def _top(contributions: dict[str, float]) -> list[str]:
    """The three channels that contributed most (ties by name), as ``Processor._score`` says."""
    return sorted(contributions, key=lambda n: (-contributions[n], n))[:3]


_FLEETS: dict[str, Callable[[tuple[str, ...], ModelSettings], Fleet]] = {
    "mahalanobis": MahalanobisFleet,
    "zscore": ZScoreFleet,
}
