"""The batch data path: a consumed batch in, one Outcome per message out, in order.

:meth:`Processor.process_batch <pipeline.processor.Processor.process_batch>` hands the decoded
batch to :class:`BatchPath`. Checks come first, message by message in order (unknown asset,
duplicate, out of order, no model channels: the dead letters of the per-message path). Then:

- assets whose detector has a fleet implementation (``mahalanobis``, ``zscore``; see
  :mod:`pipeline.detectors.fleet`) are grouped by channel layout and scored in *rounds*: the
  first reading of every asset in the batch, then the second, ... Each asset sees its
  readings strictly in order; a round costs a few array operations whatever its size
  (:mod:`pipeline.fleet_rounds`).
- every other asset is scored by its own per-reading detector, as before.

The alert policy stays one small state machine per asset, run in order. A reading gets exactly
the outcome the per-message path gives it: ``process`` is a batch of one. ``process_reading``
(``detect``, ``evaluate``) runs with ``fleets=False``: each asset keeps its per-reading
detector, faster for one reading at a time, with the same scores to 1e-9.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from pipeline.consumed import Consumed
from pipeline.detectors.fleet import Fleet, FleetSlot
from pipeline.detectors.fleet_mahalanobis import MahalanobisFleet
from pipeline.detectors.fleet_zscore import ZScoreFleet
from pipeline.errors import DecodeError
from pipeline.features import Row, row_getter, select_features
from pipeline.fleet_rounds import FleetRounds, Pending
from pipeline.messages import Reading
from pipeline.outcomes import Outcomes
from pipeline.row_decoding import RowReading, row_decoder, row_values
from pipeline.settings import ModelSettings

if TYPE_CHECKING:
    from pipeline.processor import AssetState, DeadLetter, Outcome, Processor, Source

__all__ = ["BatchPath", "Entry"]

Entry = tuple["Reading | DeadLetter", "bytes | None", "Source"]
"""A decoded message (or its dead letter), its raw value and where it came from."""

_MAX_LAYOUTS = 1024
_INT64_END = 2**63


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
        self._layouts: dict[tuple[str, ...], _Layout | None] = {}
        """The layout of each key order of readings' values seen (:meth:`_layout`)."""
        self._accepted: dict[tuple[str, ...], _Lane] = {}
        """The layouts of readings the checked decoder accepted (:meth:`run_messages`)."""
        self._row_lanes: dict[bytes | None, _RowLane] = {}
        """By message key: the row lane of the layout of the asset's last reading taken."""
        alerts = processor.settings.alerts
        fixed = None if alerts.adaptive else round(alerts.threshold, 6)
        self._rounds = FleetRounds(model.learn_anomalies, fixed)

    def run(self, entries: Sequence[Entry], fleets: bool = True) -> Outcomes:
        """One outcome per entry, in order; ``fleets=False`` scores every asset on its own."""
        self._use_fleets = fleets
        self._collect_garbage()
        outcomes = Outcomes(len(entries))
        pending: list[Pending] = []
        for index, (item, value, source) in enumerate(entries):
            self._entry(index, item, value, source, pending, outcomes)
        self._rounds.flush(pending, outcomes)
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

        Once a keyed message has been queued this way, the next ones with its key are
        decoded by its layout's row decoder (:mod:`pipeline.row_decoding`: the values in a
        struct, not a dict; ~0.35 µs a reading less); one that does not decode so (another
        layout, an odd message) drops the key's row lane and goes on as above. A reading
        whose ``ts`` equals its asset's last one is compared with the last values only when
        both were decoded the same way, else it takes the long way (which converts).
        """
        self._use_fleets = True
        self._collect_garbage()
        outcomes = Outcomes(len(messages))
        pending: list[Pending] = []
        processor = self.processor
        assets, members, accepted = processor.assets, self._members, self._accepted
        decode, max_bytes = processor.decoder.wire, processor.decoder.max_bytes
        batch = Consumed.of_pairs(messages)  # a message's Source is made only the long way
        keys, by_key = batch.keys, self._row_lanes
        for index, value in enumerate(batch.values):
            if value is not None and len(value) <= max_bytes:
                key = keys[index]
                row_lane = by_key.get(key)
                try:
                    wire = decode(value) if row_lane is None else row_lane[2](value)
                except (msgspec.DecodeError, ValueError):  # the long way says why
                    if row_lane is not None:
                        del by_key[key]  # the asset's layout changed, or the message is odd
                else:
                    asset, ts, seq = wire.asset, wire.ts, wire.seq
                    values: dict[str, float] | msgspec.Struct
                    lane: tuple[tuple[str, ...], Callable[[Any], Iterable[float]], Any] | None
                    if row_lane is None:
                        values = wire.values
                        lane = accepted.get(tuple(values))
                        new_lane = lane[2] if lane is not None and key is not None else None
                    else:  # its decoder made a RowReading
                        values, lane = wire.row, row_lane  # type: ignore[union-attr]
                        new_lane = None
                    state = assets.get(asset)
                    if (
                        state is not None
                        and lane is not None
                        and type(model := state.model) is FleetSlot
                        and members.get(asset) is model
                        and model.fleet.channels == lane[0]
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
                            or (
                                ts == last_ts
                                and type(last := state.last_values) is type(values)
                                and values != last
                            )
                        )
                    ):
                        state.last_ts, state.last_seq, state.last_values = ts, seq, values
                        pending.append((index, wire, state, model, lane[1](values)))
                        if new_lane is not None:  # the asset's next readings take it
                            self._add_row_lane(key, new_lane)
                        continue
            source = batch.source(index)
            item = processor.entry(value, source)
            self._entry(index, item, value, source, pending, outcomes)
            if type(item) is Reading:
                self._accept(item.values)
        self._rounds.flush(pending, outcomes)
        return outcomes

    def _accept(self, values: dict[str, float]) -> None:
        """Note the channel layout of a reading the checked decoder accepted."""
        key = tuple(values)
        if key not in self._accepted and len(self._accepted) < _MAX_LAYOUTS:
            layout = self._layout(values)
            if layout is not None:
                self._accepted[key] = (*layout, _row_lane(tuple(sorted(key)), layout[0]))

    def _add_row_lane(self, key: bytes | None, lane: _RowLane) -> None:
        """Decode the next messages keyed ``key`` with ``lane``'s decoder (forgetting every
        asset's lane when there are :data:`_MAX_ROW_LANES` already)."""
        if len(self._row_lanes) >= _MAX_ROW_LANES:
            self._row_lanes.clear()
        self._row_lanes[key] = lane

    def _entry(
        self,
        index: int,
        item: Reading | DeadLetter,
        value: bytes | None,
        source: Source,
        pending: list[Pending],
        outcomes: Outcomes,
    ) -> None:
        """One entry of :meth:`run`: a dead letter's outcome, or any reading the long way
        (checks, fleet membership, then queued or scored)."""
        from pipeline.processor import DeadLetter, Outcome

        if type(item) is not Reading:
            outcomes.items[index] = Outcome(dead_letter=item)  # type: ignore[arg-type]
            return
        try:
            state, layout = self._admit(item)
        except DecodeError as exc:
            letter = DeadLetter(value, source, exc.reason, exc.message)
            outcomes.items[index] = Outcome(dead_letter=letter)
            return
        slot = self._slot(item.asset, state, layout, pending, outcomes)
        if slot is None:
            x = select_features(item, self.processor.settings.model.channels)
            outcomes.items[index] = self.processor._score(item, x, state)
            return
        assert layout is not None
        pending.append((index, item, state, slot, layout[1](item.values)))

    # --- checks ---------------------------------------------------------------------------

    def _admit(self, reading: Reading) -> tuple[AssetState, _Layout | None]:
        """The asset's state after the per-message checks, and the reading's channel layout."""
        processor = self.processor
        state = processor._state_for(reading)
        processor._check_order(reading, state)
        layout = self._layout(reading.values)
        if layout is None:
            raise DecodeError("missing_field", "reading has none of the model's channels")
        state.last_ts, state.last_seq, state.last_values = reading.ts, reading.seq, reading.values
        return state, layout

    def _layout(self, values: dict[str, float]) -> _Layout | None:
        """The model's channels in ``values`` (sorted) and how to take their values from
        such a reading (``None`` when it has none of them)."""
        key = tuple(values)
        if key in self._layouts:
            return self._layouts[key]
        configured = self.processor.settings.model.channels
        present = key if configured is None else [n for n in configured if n in values]
        channels = tuple(sorted(present))
        layout = (channels, row_getter(channels, channels == key)) if channels else None
        if len(self._layouts) < _MAX_LAYOUTS:
            self._layouts[key] = layout
        return layout

    # --- fleet membership -----------------------------------------------------------------

    def _slot(
        self,
        asset: str,
        state: AssetState,
        layout: _Layout | None,
        pending: list[Pending],
        outcomes: Outcomes,
    ) -> FleetSlot | None:
        """The asset's fleet slot for this reading, or ``None`` to score it per reading."""
        model = state.model
        if self.fleet_kind is None or layout is None or not self._use_fleets:
            if isinstance(model, FleetSlot):  # leaves the fleet
                self._leave(asset, state, model, pending, outcomes)
            return None
        fleet = self._fleet(layout[0])
        if isinstance(model, FleetSlot) and self._members.get(asset) is model:
            if model.fleet is fleet:
                return model
        elif not isinstance(model, FleetSlot) and (row := fleet.absorb(model)) is not None:
            return self._own(asset, state, FleetSlot(fleet, row))
        if isinstance(model, FleetSlot):
            self._leave(asset, state, model, pending, outcomes)
            if (row := fleet.absorb(state.model)) is not None:
                return self._own(asset, state, FleetSlot(fleet, row))
        return None

    def _leave(
        self,
        asset: str,
        state: AssetState,
        slot: FleetSlot,
        pending: list[Pending],
        outcomes: Outcomes,
    ) -> None:
        """Give ``asset`` its per-reading detector back, in the state of its fleet row."""
        if any(item[1].asset == asset for item in pending):  # finish what it queued first
            self._rounds.flush(pending, outcomes)
            pending.clear()
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


_Layout = tuple[tuple[str, ...], Row]
"""A reading's layout: the model's channels in it (sorted) and how to take their values."""

_RowLane = tuple[tuple[str, ...], Callable[[Any], Iterable[float]], Callable[[bytes], RowReading]]
"""A layout's row lane: the model's channels in it, how to take their values from a row and
the layout's :func:`~pipeline.row_decoding.row_decoder`."""

_Lane = tuple[tuple[str, ...], Row, "_RowLane | None"]
"""An accepted layout (by its channels' order): a :data:`_Layout` and its row lane, if any."""

_MAX_ROW_LANES = 100_000


def _row_lane(names: tuple[str, ...], channels: tuple[str, ...]) -> _RowLane | None:
    """The row lane of readings with channels ``names`` (sorted) for a model of ``channels``."""
    decode = row_decoder(names)
    return None if decode is None else (channels, row_values(names, channels), decode)


_FLEETS: dict[str, Callable[[tuple[str, ...], ModelSettings], Fleet]] = {
    "mahalanobis": MahalanobisFleet,
    "zscore": ZScoreFleet,
}
