"""Issue 7's targets checked against a run's summary."""

from __future__ import annotations

import pytest

from bench.speed.targets import TARGETS, check, render_targets, verdict_line

ALL_MET = {
    "linewatch/quix": 8.8,
    "linewatch/naive": 7.13,
    "passthrough_readings_per_s_per_core": 103_413.0,
    "p99_latency_ms": 34.0,
    "rss_mb_per_1000_assets": 11.7,
    "restore_s_per_1000_assets": 0.7,
}


def test_a_run_that_meets_every_target_says_so():
    assert all(verdict.met for verdict in check(ALL_MET))
    assert verdict_line(ALL_MET) == "targets: 6 of 6 measured met"
    table = render_targets(ALL_MET)
    assert "**no**" not in "\n".join(table)
    assert "| restoring 1,000 assets' state, s | < 10.00 | 0.70 | yes |" in table


def test_each_missed_target_is_named_with_its_value_and_what_was_wanted():
    summary = {**ALL_MET, "passthrough_readings_per_s_per_core": 73_855.2, "p99_latency_ms": 51.0}
    assert verdict_line(summary) == (
        "targets: 4 of 6 measured met; missed: passthrough_readings_per_s_per_core 73855 "
        "(>= 100000), p99_latency_ms 51.0 (<= 50.0)"
    )
    table = render_targets(summary)
    assert "| pass-through, readings/s per core | >= 100000 | 73855 | **no** |" in table
    assert "| event-to-score p99 at half the peak rate, ms | <= 50.0 | 51.0 | **no** |" in table


@pytest.mark.parametrize(
    ("key", "value", "met"),
    [
        ("p99_latency_ms", 50.0, True),
        ("p99_latency_ms", 50.04, True),  # written as 50.0, as outside checks read it
        ("p99_latency_ms", 50.06, False),
        ("linewatch/quix", 2.996, True),  # written as 3.00
        ("linewatch/quix", 2.994, False),
        ("passthrough_readings_per_s_per_core", 99_999.4, False),
        ("passthrough_readings_per_s_per_core", 99_999.6, True),  # written as 100000
        ("restore_s_per_1000_assets", 9.99, True),
        ("restore_s_per_1000_assets", 10.0, False),  # "under 10 seconds"
    ],
)
def test_a_bound_is_checked_on_the_value_as_written(key, value, met):
    (verdict,) = [v for v in check({key: value}) if v.target.key == key]
    assert verdict.met is met


def test_arms_not_run_are_not_measured_rather_than_missed():
    summary = {"linewatch/quix": 2.0}
    verdicts = check(summary)
    assert [v.met for v in verdicts] == [False, None, None, None, None, None]
    assert verdict_line(summary) == (
        "targets: 0 of 1 measured met; missed: linewatch/quix 2.00 (>= 3.00)"
    )
    assert sum("not measured" in line for line in render_targets(summary)) == len(TARGETS) - 1
