"""call_with_deadline: results, raised errors, and giving up on a call that blocks."""

from __future__ import annotations

import threading

import pytest

from pipeline.deadline import Overdue, call_with_deadline


def test_returns_the_result() -> None:
    assert call_with_deadline(lambda: "done", 5.0, "returning") == "done"


def test_raises_what_the_call_raised() -> None:
    def fail() -> None:
        raise ValueError("refused")

    with pytest.raises(ValueError, match="refused"):
        call_with_deadline(fail, 5.0, "failing")


def test_gives_up_on_a_blocked_call_and_leaves_it_to_a_daemon_thread() -> None:
    release, finished = threading.Event(), threading.Event()

    def block() -> None:
        release.wait()
        finished.set()

    with pytest.raises(Overdue, match="blocking did not return within 0.1s"):
        call_with_deadline(block, 0.1, "blocking")
    helpers = [t for t in threading.enumerate() if t.name == "deadline: blocking"]
    assert len(helpers) == 1 and helpers[0].daemon and helpers[0].is_alive()
    release.set()
    assert finished.wait(5.0)  # the call went on and ended in its own thread
