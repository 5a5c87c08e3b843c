"""The background commit: one at a time, its error handed back, outputs held in order."""

from __future__ import annotations

import threading
import time

import pytest

from pipeline.background import BackgroundCommit, HeldOutput
from pipeline.outputs import CommitAborted, Headers


def test_outputs_made_during_a_commit_are_held_in_order_with_their_time() -> None:
    commits, release = BackgroundCommit(max_held=3), threading.Event()
    commits.start(lambda: None if release.wait() else None)
    before = int(time.time() * 1000)
    for i in range(3):
        commits.hold("scores", b"a", str(i).encode(), [], -1)
    assert commits.busy and not commits.done and commits.full
    release.set()
    assert commits.wait() is None
    held = commits.take_held()
    assert [h.value for h in held] == [b"0", b"1", b"2"]
    assert all(before <= h.timestamp <= int(time.time() * 1000) for h in held)
    assert not commits.busy and commits.take_held() == []
    commits.close()


def test_the_commit_error_is_handed_back_and_one_commit_runs_at_a_time() -> None:
    commits = BackgroundCommit(max_held=10)

    def fail() -> None:
        raise CommitAborted("aborted")

    commits.start(fail)
    with pytest.raises(RuntimeError, match="already in flight"):
        commits.start(lambda: None)
    assert isinstance(commits.wait(), CommitAborted)
    commits.start(lambda: None)
    assert commits.wait() is None
    commits.close()


def test_held_outputs_taken_a_few_at_a_time_keep_later_outputs_behind_them() -> None:
    commits = BackgroundCommit(max_held=10)
    commits.start(lambda: None)
    for i in range(5):
        commits.hold("scores", b"a", str(i).encode(), [], -1)
    assert commits.wait() is None
    assert [h.value for h in commits.take_held(2)] == [b"0", b"1"]
    assert commits.busy and not commits.committing  # the next outputs queue behind 2, 3, 4
    commits.hold("scores", b"a", b"5", [], -1)
    assert [h.value for h in commits.take_held(2)] == [b"2", b"3"]
    assert [h.value for h in commits.take_held()] == [b"4", b"5"]
    assert not commits.busy
    commits.close()


def test_held_many_are_the_outputs_hold_makes(monkeypatch) -> None:
    monkeypatch.setattr(time, "time", lambda: 1_700_000_000.1234)
    one, many = BackgroundCommit(max_held=10), BackgroundCommit(max_held=10)
    headers: Headers = [("linewatch.processed_at_ms", b"1")]
    records: list[tuple[bytes | None, bytes]] = [(b"a", b"0"), (None, b"1"), (b"c", b"2")]
    for key, value in records:
        one.hold("scores", key, value, headers, -1)
    many.hold_many("scores", records, headers)
    held = many.take_held()
    assert held == one.take_held()
    assert held[0] == HeldOutput("scores", b"a", b"0", headers, -1, 1_700_000_000_123)
    assert all(type(h) is HeldOutput for h in held)
    assert [h._asdict()["key"] for h in held] == [b"a", None, b"c"]
    one.close()
    many.close()
