"""One asset's bounded buffer of scored feature vectors waiting for their targets.

:class:`LabelBuffer` keeps a vector every ``sample_interval_ms`` of the asset's event time,
with the predictions made for it when it was scored (for test-then-train metrics). A
``failure`` resolves the buffered vectors before it (:mod:`pipeline.supervised.targets`), the
asset's advancing event time resolves those whose horizon passed without one; both come out
in event-time order. Readings between a failure and its maintenance (a stopped machine) are
not buffered. Past ``size`` vectors the oldest is dropped and counted in ``dropped``.

Examples
--------
>>> buffer = LabelBuffer(horizon_ms=10_000, delay_ms=0, sample_interval_ms=1_000, size=100)
>>> for second in range(30):
...     resolved = buffer.add(second * 1000, ("v",), (float(second),), p=None, rul=None)
>>> [(item.ts, t.failure) for item, t in resolved]  # second 18: its horizon passed
[(18000, False)]
>>> [(item.ts, t.failure, t.rul_s) for item, t in buffer.on_failure(30_000)][-2:]
[(28000, True, 2.0), (29000, True, 1.0)]
>>> buffer.down(31_000), buffer.add(31_000, ("v",), (0.0,), None, None), len(buffer)
(True, [], 0)
>>> buffer.on_maintenance(60_000); buffer.down(61_000)
False
"""

from __future__ import annotations

from array import array
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from pipeline.supervised.targets import (
    Target,
    horizon_passed,
    no_failure,
    target_before_failure,
)

__all__ = ["LabelBuffer", "Pending", "Resolved"]


@dataclass(frozen=True, slots=True)
class Pending:
    """A buffered vector, with what the models predicted for it before learning it."""

    ts: int
    names: tuple[str, ...]
    x: array[float]
    p: float | None
    rul: float | None
    """Predicted remaining useful life in seconds."""


Resolved = tuple[Pending, Target]


class LabelBuffer:
    """The vectors of one asset waiting for a failure or for their horizon to pass."""

    def __init__(
        self,
        horizon_ms: int,
        delay_ms: int,
        sample_interval_ms: int,
        size: int,
        settle_ms: int = 0,
    ) -> None:
        self.horizon_ms, self.delay_ms, self.settle_ms = horizon_ms, delay_ms, settle_ms
        self.sample_interval_ms, self.size = sample_interval_ms, size
        self.pending: deque[Pending] = deque()
        self.failure_ts = -1
        self.maintenance_ts = -1
        self.watermark = -1
        self.dropped = 0
        self._last_sample = -(1 << 62)

    settle_ms = 0
    """After a maintenance, how long the restarting machine still counts as down."""

    def __len__(self) -> int:
        return len(self.pending)

    def down(self, ts: int) -> bool:
        """Whether the machine stood still at ``ts`` (after its last failure, before its repair
        and the ``settle_ms`` of its restart)."""
        if self.failure_ts < 0 or ts <= self.failure_ts:
            return False
        return self.maintenance_ts < self.failure_ts or ts < self.maintenance_ts + self.settle_ms

    def add(
        self,
        ts: int,
        names: tuple[str, ...],
        x: Sequence[float],
        p: float | None,
        rul: float | None,
    ) -> list[Resolved]:
        """Buffer a scored vector (if due); return the vectors resolved meanwhile."""
        self.watermark = max(self.watermark, ts)
        if self.down(ts):
            return self.expire()
        item = Pending(ts, names, array("f", x), p, rul)
        if ts <= self.failure_ts:  # a late reading of a failure already labelled
            target = target_before_failure(ts, self.failure_ts, self.horizon_ms)
            return self.expire() + ([] if target is None else [(item, target)])
        if ts - self._last_sample >= self.sample_interval_ms:
            self._last_sample = ts
            self.pending.append(item)
            if len(self.pending) > self.size:
                self.pending.popleft()
                self.dropped += 1
        return self.expire()

    def expire(self) -> list[Resolved]:
        """Negatives: the buffered vectors whose horizon passed without a failure."""
        resolved: list[Resolved] = []
        pending = self.pending
        while pending and horizon_passed(
            pending[0].ts, self.watermark, self.horizon_ms, self.delay_ms
        ):
            resolved.append((pending.popleft(), no_failure(self.horizon_ms)))
        return resolved

    def on_failure(self, ts: int) -> list[Resolved]:
        """The buffered vectors up to a failure at ``ts`` with their targets, oldest first."""
        self.failure_ts = max(self.failure_ts, ts)
        self.watermark = max(self.watermark, ts)
        resolved: list[Resolved] = []
        while self.pending and self.pending[0].ts <= ts:
            item = self.pending.popleft()
            target = target_before_failure(item.ts, ts, self.horizon_ms)
            if target is not None:
                resolved.append((item, target))
        self.pending.clear()  # anything later belongs to the stopped machine
        return resolved

    def vectors(self, resolved: list[Resolved]) -> Iterator[tuple[dict[str, float], Resolved]]:
        """Each resolved vector as the dict the models learn, with its item and target."""
        for item, target in resolved:
            yield dict(zip(item.names, item.x, strict=True)), (item, target)

    def on_maintenance(self, ts: int) -> None:
        """The machine was repaired at ``ts``: it runs again from then on."""
        self.maintenance_ts = max(self.maintenance_ts, ts)
        while self.pending and self.pending[0].ts < ts and self.down(self.pending[0].ts):
            self.pending.popleft()
