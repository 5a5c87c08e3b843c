"""Sending a timestamped stream at its own pace times a speed factor, and stopping on signals.

Examples
--------
>>> import threading
>>> pacer = Pacer(speed=0.0, stop=threading.Event())  # 0: as fast as possible
>>> pacer.wait_for(1_000), pacer.wait_for(60_000)
(True, True)
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = ["Pacer", "stop_on_signals"]

_NAP_S = 0.1  # longest single sleep, so a stop request is noticed quickly
_SLACK_S = 0.002  # sleep only when this far ahead of schedule (batches at high rates)


class Pacer:
    """Hold each record back until its time: ``(ts - first ts) / speed`` after the start.

    ``speed`` 1 is real time, 3600 one hour a second, 0 as fast as possible. ``restart()``
    begins a new pass (e.g. a replay's next loop) from the next record's timestamp.
    """

    def __init__(self, speed: float, stop: threading.Event) -> None:
        self.speed, self.stop = speed, stop
        self._began = time.monotonic()
        self._first_ts: int | None = None

    def restart(self) -> None:
        """Pace the next record as the first of a new pass."""
        self._began, self._first_ts = time.monotonic(), None

    def wait_for(self, ts_ms: int) -> bool:
        """Sleep until the record at ``ts_ms`` is due; False if asked to stop meanwhile."""
        if self.stop.is_set():
            return False
        if self.speed <= 0:
            return True
        if self._first_ts is None:
            self._began, self._first_ts = time.monotonic(), ts_ms
        deadline = self._began + (ts_ms - self._first_ts) / 1000.0 / self.speed
        ahead = deadline - time.monotonic()
        while ahead > _SLACK_S:
            if self.stop.wait(min(ahead, _NAP_S)):
                return False
            ahead = deadline - time.monotonic()
        return not self.stop.is_set()


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """An event set by SIGINT or SIGTERM while the block runs (main thread only)."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
