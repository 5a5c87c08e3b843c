"""The latency arm's stall witness and its per-second p99 count."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.speed.latency import LatencyResult, seconds_within
from bench.speed.stalls import PRIORITY, Stalls, main, watch

REPO = Path(__file__).resolve().parents[2]


class FakeClock:
    """A monotonic clock that each sleep moves by its length plus what ``delays`` say."""

    def __init__(self, delays: list[float]) -> None:
        self.now = 0.0
        self.delays = delays

    def sleep(self, seconds: float) -> None:
        self.now += seconds + (self.delays.pop(0) if self.delays else 0.0)


def test_only_wake_ups_late_by_the_threshold_are_reported():
    clock = FakeClock([0.0, 0.019, 0.0, 0.025, 0.3])
    rounds = iter(range(6))
    late = watch(
        lambda: next(rounds) == 5,
        every_s=0.005,
        late_s=0.02,
        clock=lambda: clock.now,
        wall_ms=lambda: round(clock.now * 1000),
        sleep=clock.sleep,
    )
    assert late == [(64, 25.0), (369, 300.0)]


def test_a_witness_that_was_not_run_reports_how_long():
    witness = subprocess.Popen(
        [sys.executable, "-m", "bench.speed.stalls", "--every-ms", "1"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert witness.stderr is not None
        assert witness.stderr.readline().startswith("stalls: sleeping 1 ms at a time")
        time.sleep(0.2)
        witness.send_signal(signal.SIGSTOP)  # what a stalled machine does to it
        time.sleep(0.15)
        witness.send_signal(signal.SIGCONT)
        time.sleep(0.1)
        witness.send_signal(signal.SIGTERM)
        output, _ = witness.communicate(timeout=10)
    finally:
        witness.kill()
    report = Stalls.parse(output)
    assert report is not None, output
    allowed = os.geteuid() == 0 or os.nice(0) <= PRIORITY
    assert report.niceness == (PRIORITY if allowed else os.nice(0))
    assert any(ms >= 120 for _, ms in report.late), report.late
    now_ms = int(time.time() * 1000)
    assert all(now_ms - 5000 < at <= now_ms for at, _ in report.late)


def test_output_without_a_report_parses_to_none():
    assert Stalls.parse("Traceback (most recent call last):\n  ...\n[1, 2]\n") is None


@pytest.mark.parametrize(
    ("slow", "expected"),
    [((), (3, 3)), ((1,), (2, 3)), ((0, 1, 2), (0, 3))],
)
def test_seconds_whose_p99_missed_are_counted(slow, expected):
    events = {("a", 10_000 + t): 10_000 + t for t in range(0, 3_000, 5)}  # 200 a second
    scored = {}
    for key, stamp in events.items():
        late = (stamp - 10_000) // 1000 in slow and stamp % 100 < 10  # a tenth of the second's
        scored[key] = stamp + (200 if late else 5)
    assert seconds_within(events, scored, 10_000, 50.0) == expected


def test_one_late_reading_in_a_second_is_not_its_p99():
    events = {("a", t): t for t in range(0, 1_000, 5)}
    scored = {key: stamp + (500 if stamp == 0 else 5) for key, stamp in events.items()}
    assert seconds_within(events, scored, 0, 50.0) == (1, 1)


def test_the_latency_paragraph_names_the_seconds_and_the_stalls():
    result = LatencyResult(
        1000.0, 30.0, 30_000, 24_000, 1000.0, 5.0, 90.0, 120.0, None, None, "x",
        seconds_ok=(21, 24),
        stalls=Stalls(-10, [(1, 24.0), (2, 31.5)]),
    )  # fmt: skip
    text = result.describe()[0]
    assert text.endswith(
        " Seconds with p99 <= 50 ms: 21 of 24. A sleeper at nice -10 (`bench.speed.stalls`) woke"
        " 20 ms or more late 2 times in the measured window (up to 32 ms)."
    )
    assert result.seconds_ok_share == pytest.approx(21 / 24)
    assert result.machine_stalls == 2.0
    once = dataclasses.replace(result, stalls=Stalls(-10, [(1, 24.0)]))
    assert (
        "woke 20 ms or more late once in the measured window (up to 24 ms)." in once.describe()[0]
    )


@pytest.mark.parametrize("value", ["0", "-5", "nan", "inf"])
def test_a_sleep_that_is_not_a_positive_number_is_refused(value, capsys):
    with pytest.raises(SystemExit) as refused:
        main(["--every-ms", value])
    assert refused.value.code == 2
    assert "--every-ms: must be above 0" in capsys.readouterr().err
