"""Where a round of the service's loop spends its time: slow rounds are logged with their phases.

With ``serve.slow_round_ms`` set, :class:`RoundTrace` times the phases of every round of the
consuming thread (poll, owed snapshots, processing, producing, held outputs, checkpoint) and
of every commit in the helper thread (seal, produce the snapshots, send the offsets, commit),
and logs each one that took at least that long as a ``slow round`` / ``slow commit`` warning
with the milliseconds of each phase, the thread's CPU milliseconds (wall far above CPU: the
thread waited for the GIL or a core), the milliseconds the garbage collector ran meanwhile
(``gc_ms``, with the oldest generation it collected: it stops every thread) and the age of the
oldest reading the round consumed (how late the readings were when the service saw them).
Each record also says when the round ended (``ended_ms``, Unix milliseconds: the log's own
``ts`` has whole seconds), to line it up with other processes' events.
Off (``None``), a mark costs one attribute look-up.

Examples
--------
>>> trace = RoundTrace(threshold_ms=0.0)
>>> trace.start()
>>> trace.mark("poll")
>>> trace.mark("process")
>>> [name for name, _ in trace.phases]
['poll', 'process']
>>> RoundTrace(None).enabled
False
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Sequence

from confluent_kafka import Message

__all__ = ["RoundTrace", "oldest_age_ms"]
logger = logging.getLogger(__name__)


class _GcClock:
    """The collector's running time and its collections by generation (``gc.callbacks``).

    Shared by every trace (the consuming thread's rounds, the helper thread's commits): each
    trace keeps its own readings of both at its start, so neither resets the other's.
    """

    def __init__(self) -> None:
        self.seconds = 0.0
        self.collections = [0, 0, 0]
        self._began = 0.0
        self.installed = False

    def install(self) -> None:
        if not self.installed:
            self.installed = True
            gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._began
            self.collections[min(info.get("generation", 0), 2)] += 1

    def oldest_since(self, collections: tuple[int, ...]) -> int:
        """The oldest generation collected since ``collections`` were read; -1 if none."""
        return max((g for g in range(3) if self.collections[g] > collections[g]), default=-1)


_GC = _GcClock()


class RoundTrace:
    """The phases of the current round; see the module docstring.

    Parameters
    ----------
    threshold_ms
        Rounds (and commits) at least this long are logged; ``None``: nothing is timed.
    """

    def __init__(self, threshold_ms: float | None) -> None:
        self.enabled = threshold_ms is not None
        self._threshold_s = (threshold_ms or 0.0) / 1000.0
        self.phases: list[tuple[str, float]] = []
        self._started = self._last = 0.0
        self._cpu = 0.0
        self._gc = 0.0
        self._collections: tuple[int, ...] = (0, 0, 0)
        self.context: dict[str, object] = {}
        if self.enabled:
            _GC.install()

    def start(self) -> None:
        """A round begins."""
        if self.enabled:
            self._started = self._last = time.perf_counter()
            self._cpu = time.thread_time()
            self._gc, self._collections = _GC.seconds, tuple(_GC.collections)
            self.phases = []
            self.context = {}

    def mark(self, phase: str) -> None:
        """The phase ``phase`` of the round ends now."""
        if self.enabled:
            now = time.perf_counter()
            self.phases.append((phase, now - self._last))
            self._last = now

    def note(self, **context: object) -> None:
        """Add fields to the round's log record (e.g. the batch size)."""
        if self.enabled:
            self.context.update(context)

    def end(self, what: str = "slow round") -> None:
        """The round ends: log it if it took at least the threshold."""
        if not self.enabled:
            return
        wall = time.perf_counter() - self._started
        if wall < self._threshold_s:
            return
        logger.warning(
            what,
            extra={
                "ended_ms": int(time.time() * 1000),
                "wall_ms": round(wall * 1000, 1),
                "cpu_ms": round((time.thread_time() - self._cpu) * 1000, 1),
                "phases_ms": {name: round(s * 1000, 1) for name, s in self.phases if s >= 5e-4},
                "gc_ms": round((_GC.seconds - self._gc) * 1000, 1),
                "gc_generation": _GC.oldest_since(self._collections),
                **self.context,
            },
        )


def oldest_age_ms(batch: Sequence[Message]) -> int:
    """Milliseconds from the oldest Kafka timestamp in ``batch`` to now (0 if it has none)."""
    stamps = [stamp for kind, stamp in (m.timestamp() for m in batch) if kind]
    return int(time.time() * 1000) - min(stamps) if stamps else 0
