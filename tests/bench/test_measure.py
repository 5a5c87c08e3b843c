"""CPU accounting from /proc and the percentile and rate helpers."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.speed.memory import per_1000_assets
from bench.speed.procstat import parse_cpu_ticks, sample
from bench.speed.stats import per_core, percentile


class TestProcStat:
    def test_command_names_with_spaces_and_parentheses_are_skipped(self):
        line = "7 (a) b) (c) R 1 2 3 0 -1 0 0 0 0 0 17 4 0 0 20 0 1 0 9 0 0"
        assert parse_cpu_ticks(line) == 21

    def test_own_cpu_seconds_match_os_times(self):
        deadline = time.process_time() + 0.3
        while time.process_time() < deadline:
            pass
        times = os.times()
        measured = sample(os.getpid()).cpu_s
        assert abs(measured - (times.user + times.system)) < 0.05

    def test_a_busy_child_accrues_cpu_and_an_idle_one_does_not(self):
        busy = "import time\nt = time.process_time() + 0.5\nwhile time.process_time() < t: pass\n"
        code = busy + "import sys; sys.stdout.write('done\\n'); sys.stdout.flush(); time.sleep(30)"
        child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        try:
            assert child.stdout is not None and child.stdout.readline() == "done\n"
            first = sample(child.pid)
            time.sleep(0.3)
            second = sample(child.pid)
        finally:
            child.kill()
            child.wait()
            if child.stdout is not None:
                child.stdout.close()
        assert first.cpu_s >= 0.45
        assert second.cpu_s - first.cpu_s < 0.05
        assert 0 < first.rss_bytes <= first.peak_rss_bytes


class TestStats:
    @given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=50), st.floats(0, 100))
    def test_percentile_agrees_with_numpy(self, values, q):
        assert percentile(values, q) == pytest.approx(np.percentile(values, q), abs=1e-6)

    def test_percentile_of_nothing_is_an_error(self):
        with pytest.raises(ValueError, match="no values"):
            percentile([], 50)

    def test_per_core_needs_cpu_time(self):
        assert per_core(3000, 1.5) == 2000.0
        with pytest.raises(ValueError, match="no CPU time"):
            per_core(10, 0.0)

    def test_memory_per_1000_assets_is_the_slope_between_two_asset_counts(self):
        assert per_1000_assets(150_000_000, 1010, 100_000_000, 10) == pytest.approx(50.0)
        assert per_1000_assets(300_000_000, 1000, 400_000_000, 3000) == pytest.approx(50.0)
        with pytest.raises(ValueError):
            per_1000_assets(1, 10, 1, 10)


class TestRepeatedRounds:
    def _result(self, name: str, cpu_s: float):
        from bench.speed.runner import ArmResult

        return ArmResult(name, 1000, 1000, cpu_s, 1.0, 0, 0)

    def test_the_best_round_is_the_one_with_most_readings_per_core(self):
        from bench.speed.run import best

        rounds = [self._result("a", 2.0), self._result("a", 0.5), self._result("a", 1.0)]
        assert best(rounds) is rounds[1]

    def test_the_command_line_refuses_fewer_than_one_round(self, capsys):
        from bench.speed.__main__ import main

        with pytest.raises(SystemExit) as exit_:
            main(["--repeat", "0", "--no-results"])
        assert exit_.value.code == 2
        assert "--repeat: must be at least 1, not 0" in capsys.readouterr().err


class TestLoadGeneratorStart:
    """The latency arm's producer sends its first record only once it has its producer id."""

    class _Sink:
        def __init__(self, ready, after: int | None) -> None:
            self.ready, self.after, self.serves = ready, after, 0

        def serve(self, timeout_s: float) -> None:
            self.serves += 1
            if self.after is not None and self.serves >= self.after:
                self.ready.set()

    def test_it_serves_the_producer_until_the_statistics_say_ready(self):
        import threading

        from bench.speed.loadgen import _statistics, _wait_ready

        ready = threading.Event()
        on_statistics = _statistics(ready)["stats_cb"]
        on_statistics('{"eos": {"idemp_state": "WaitPID"}}')
        assert not ready.is_set()
        sink = self._Sink(ready, after=3)
        assert _wait_ready(sink, ready, 10.0) >= 0.0  # type: ignore[arg-type]
        assert sink.serves == 3
        on_statistics('{"eos": {"idemp_state": "Assigned"}}')
        assert ready.is_set()
        on_statistics("not JSON")  # once ready, the statistics are no longer parsed

    def test_the_producer_reports_only_failed_deliveries_and_keeps_the_settings(self, tmp_path):
        import threading

        from bench.speed.loadgen import _producer_config
        from pipeline.settings import Settings

        path = tmp_path / "c.toml"
        path.write_text('bootstrap_servers = "localhost:1"\n[kafka]\n"client.id" = "lg"\n')
        config = _producer_config(Settings.load(path), threading.Event())
        assert config["delivery.report.only.error"] is True
        assert config["bootstrap.servers"] == "localhost:1"
        assert config["client.id"] == "lg"
        assert callable(config["stats_cb"])

    def test_a_record_that_fails_still_reaches_the_publisher_with_those_settings(self, tmp_path):
        import threading

        from bench.speed.loadgen import _producer_config
        from pipeline.errors import DeliveryError
        from pipeline.messages import Reading
        from pipeline.settings import Settings
        from producers.publish import KafkaPublisher

        path = tmp_path / "c.toml"  # nothing listens on port 1: the record times out
        path.write_text(
            'bootstrap_servers = "127.0.0.1:1"\n[kafka]\n"message.timeout.ms" = "500"\n'
        )
        sink = KafkaPublisher(
            _producer_config(Settings.load(path), threading.Event()), "readings", "labels"
        )
        sink.publish(Reading(asset="a", ts=1, values={"t": 1.0}))
        with pytest.raises(DeliveryError, match="1 messages failed"):
            sink.flush(10.0)
        assert sink.failed == 1
        sink.close(0.1)

    def test_a_producer_never_ready_is_reported_and_sends_anyway(self, capsys):
        import threading

        from bench.speed.loadgen import _wait_ready

        ready = threading.Event()
        sink = self._Sink(ready, after=None)
        assert _wait_ready(sink, ready, 0.05) >= 0.05  # type: ignore[arg-type]
        assert sink.serves > 0
        assert "no producer id after 0.05 s; sending anyway" in capsys.readouterr().err


def test_the_latency_arms_peak_is_the_fastest_round_by_wall_time() -> None:
    from bench.speed.run import best, peak_rate
    from bench.speed.runner import ArmResult

    # session 9: the best round by CPU drained at 68,466/s, the other at 84,787/s
    rounds = [
        ArmResult("linewatch", 1_000_000, 1_000_000, 11.3, 11.8, 0, 0),
        ArmResult("linewatch", 1_000_000, 1_000_000, 10.7, 14.6, 0, 0),
    ]
    assert best(rounds) is rounds[1]
    assert peak_rate(rounds) == rounds[0].per_s
