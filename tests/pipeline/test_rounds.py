"""Slow rounds are logged with their phases; fast ones and a disabled trace log nothing."""

from __future__ import annotations

import gc
import logging
import time

import pytest

from pipeline.rounds import RoundTrace


class TestRoundTrace:
    def test_a_slow_round_is_logged_with_its_phases_and_notes(self, caplog) -> None:
        trace = RoundTrace(threshold_ms=5.0)
        before_ms = time.time() * 1000
        with caplog.at_level(logging.WARNING, logger="pipeline.rounds"):
            trace.start()
            trace.mark("poll")
            time.sleep(0.02)
            trace.mark("process")
            trace.note(batch=3)
            trace.end()
        [record] = caplog.records
        assert record.getMessage() == "slow round"
        phases = record.phases_ms
        assert set(phases) <= {"poll", "process"} and phases["process"] >= 20.0
        assert record.wall_ms >= phases["process"]
        assert record.cpu_ms >= 0.0
        assert record.batch == 3
        assert int(before_ms) + 20 <= record.ended_ms <= time.time() * 1000

    @pytest.mark.parametrize("threshold", [None, 10_000.0])
    def test_fast_rounds_and_a_disabled_trace_log_nothing(self, caplog, threshold) -> None:
        trace = RoundTrace(threshold_ms=threshold)
        with caplog.at_level(logging.WARNING, logger="pipeline.rounds"):
            trace.start()
            trace.mark("poll")
            trace.end("slow commit")
        assert caplog.records == []
        recorded = [name for name, _ in trace.phases]
        assert recorded == ([] if threshold is None else ["poll"])  # disabled: nothing timed

    def test_a_new_round_forgets_the_last_ones_phases(self) -> None:
        trace = RoundTrace(threshold_ms=0.0)
        trace.start()
        trace.mark("poll")
        trace.note(batch=1)
        trace.start()
        assert trace.phases == [] and trace.context == {}

    def test_a_collection_during_the_round_is_logged_with_its_generation(self, caplog) -> None:
        trace = RoundTrace(threshold_ms=0.0)
        with caplog.at_level(logging.WARNING, logger="pipeline.rounds"):
            trace.start()
            gc.collect(1)
            trace.end()
            trace.start()
            trace.end()
        collected, quiet = caplog.records
        assert collected.gc_generation == 1 and collected.gc_ms >= 0.0
        assert quiet.gc_generation == -1 and quiet.gc_ms == 0.0

    def test_a_trace_starting_meanwhile_does_not_hide_anothers_collection(self, caplog) -> None:
        # The commit's trace (helper thread) may start in the middle of a round.
        round_trace, commit_trace = RoundTrace(threshold_ms=0.0), RoundTrace(threshold_ms=0.0)
        with caplog.at_level(logging.WARNING, logger="pipeline.rounds"):
            round_trace.start()
            gc.collect(2)
            commit_trace.start()
            commit_trace.end("slow commit")
            round_trace.end()
        commit, round_record = caplog.records
        assert commit.gc_generation == -1
        assert round_record.gc_generation == 2
