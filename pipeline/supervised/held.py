"""Labels held until their partition's readings reach them: one order whatever the fetch order.

The service consumes ``sensor.labels`` beside ``sensor.readings``, and how the two topics'
messages interleave depends on fetch timing. A label changes what the supervised models
predict next, so applying it "when it happens to arrive" would make the predictions differ
between a clean run and a run restarted after a crash. Instead every label waits in its
partition's queue (in offset order) and is applied just before the first reading of that
partition at or after ``label.ts + label_delay_s``: a point fixed by the data alone, as long
as the label arrives within its configured delay. Held labels are not committed, so after a
crash they are consumed and held again.

Items are opaque to the queue: a label, or a dead letter (a bad label), which is released
as soon as it reaches the head of its queue (``due_ts=None``).

Examples
--------
>>> held = HeldLabels(delay_ms=10)
>>> held.hold(0, 5, 100, "failure at 100")
>>> held.hold(0, 6, None, "a bad label")
>>> held.due(0, 105), len(held)
([], 2)
>>> held.due(0, 110)
[(5, 'failure at 100'), (6, 'a bad label')]
>>> held.hold(1, 0, 50, "x"); held.drop([1]); len(held)
0
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Generic, TypeVar

__all__ = ["HeldLabels"]

T = TypeVar("T")


class HeldLabels(Generic[T]):
    """Per partition, labels (``(offset, due ts, item)``) waiting for the readings to pass them."""

    def __init__(self, delay_ms: int) -> None:
        self.delay_ms = delay_ms
        self._queues: dict[int, deque[tuple[int, int | None, T]]] = {}
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def hold(self, partition: int, offset: int, ts: int | None, item: T) -> None:
        """Hold ``item`` of ``partition`` (label time ``ts``; ``None``: due at the head)."""
        due = None if ts is None else ts + self.delay_ms
        self._queues.setdefault(partition, deque()).append((offset, due, item))
        self._size += 1

    def due(self, partition: int, ts: int) -> list[tuple[int, T]]:
        """``(offset, item)`` due before a reading of ``partition`` at ``ts``, in offset order."""
        queue = self._queues.get(partition)
        released: list[tuple[int, T]] = []
        while queue and (queue[0][1] is None or queue[0][1] <= ts):
            offset, _, item = queue.popleft()
            released.append((offset, item))
        self._size -= len(released)
        return released

    def drop(self, partitions: Iterable[int]) -> None:
        """Forget the held labels of ``partitions`` (they are consumed again from the commit)."""
        for partition in partitions:
            self._size -= len(self._queues.pop(partition, ()))
