"""Run a blocking call with a deadline, for client calls that may not honour their own timeout.

librdkafka's ``send_offsets_to_transaction`` can block for good after a broker outage
(confluentinc/librdkafka#5456: the coordinator request's timeout is never checked; #5511: the
cached group coordinator can be a decommissioned broker that never changes state again).
:func:`call_with_deadline` runs such a call in a daemon helper thread and gives up waiting at
the deadline: the caller must then abandon the object the call runs on (it is still in use by
the helper thread, which releases it if the call ever returns).

Examples
--------
>>> call_with_deadline(lambda: 6 * 7, 1.0, "answering")
42
>>> import threading
>>> never = threading.Event()
>>> call_with_deadline(never.wait, 0.05, "waiting for nothing")
Traceback (most recent call last):
...
pipeline.deadline.Overdue: waiting for nothing did not return within 0.05s
>>> never.set()
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["Overdue", "call_with_deadline"]

T = TypeVar("T")


class Overdue(Exception):
    """The call did not return in time; it still runs in its helper thread."""


class _Outcome(Generic[T]):
    def __init__(self) -> None:
        self.value: T | None = None
        self.error: BaseException | None = None


def call_with_deadline(call: Callable[[], T], timeout_s: float, what: str) -> T:
    """Return ``call()``, or raise :class:`Overdue` after ``timeout_s`` seconds.

    Exceptions raised by ``call`` are raised here. The helper thread is a daemon, so a call
    that never returns does not keep the process alive.
    """
    outcome: _Outcome[T] = _Outcome()

    def run() -> None:
        try:
            outcome.value = call()
        except BaseException as exc:  # handed to the caller
            outcome.error = exc

    helper = threading.Thread(target=run, name=f"deadline: {what}", daemon=True)
    helper.start()
    helper.join(timeout_s)
    if helper.is_alive():
        raise Overdue(f"{what} did not return within {timeout_s:g}s")
    if outcome.error is not None:
        raise outcome.error
    return outcome.value  # type: ignore[return-value]
