"""The ``extremes`` detector's parts, and the detector through the Processor with timestamps."""

from __future__ import annotations

import math
import random

import pytest

from pipeline.detectors.context import SLOTS, SeasonalLag
from pipeline.detectors.extremes import Extremes
from pipeline.detectors.extremes_window import ExtremesWindow
from pipeline.detectors.suppress import PeakSuppressor
from pipeline.messages import Reading
from pipeline.processor import Processor
from pipeline.settings import Settings

FIVE_MINUTES = 300_000
DAY = 288  # readings a day at five minutes


def daily(days: int, seed: int = 0) -> list[float]:
    """A noisy daily cycle sampled every five minutes."""
    rng = random.Random(seed)
    return [
        10.0 + 5.0 * math.sin(2 * math.pi * i / DAY) + rng.gauss(0, 0.3) for i in range(days * DAY)
    ]


def scores(values: list[float], start: int = 0, **model: object) -> list[float]:
    """The Processor's scores of ``values`` (one asset, five-minute timestamps from ``start``)."""
    settings = Settings.load(
        None,
        model={"kind": "extremes", "extremes_window": 2000, "learn_anomalies": True, **model},
        alerts={"warmup": 0, "threshold": 0.6, "raise_after": 1, "clear_after": 1},
    )
    processor = Processor(settings)
    out = []
    for i, value in enumerate(values):
        outcome = processor.process_reading(Reading("a", start + i * FIVE_MINUTES, {"v": value}))
        assert outcome.score is not None
        out.append(outcome.score.score)
    return out


class TestExtremesWindow:
    def test_inside_the_range_at_most_one_beyond_it_in_proportion(self):
        window = ExtremesWindow(window=1000)
        for i in range(1000):
            window.learn(float(i % 100))
        assert 0.0 <= window.surprise(50.0) < 0.2
        assert window.surprise(99.0) <= 1.0
        beyond = [window.surprise(v) for v in (99.0 + 9.9, 99.0 + 19.8)]
        assert beyond[0] == pytest.approx(2.0) and beyond[1] == pytest.approx(3.0)
        assert window.surprise(-9.9) == pytest.approx(2.0)

    def test_forgets_values_older_than_the_window(self):
        window = ExtremesWindow(window=50)
        for _ in range(50):
            window.learn(100.0)
        for i in range(50):
            window.learn(float(i % 5))
        assert window.surprise(100.0) > 10.0

    def test_a_constant_is_not_an_extreme_and_a_change_from_it_is(self):
        window = ExtremesWindow(window=100, min_rel_range=1e-3)
        for _ in range(100):
            window.learn(5.0)
        assert window.surprise(5.0) < 0.2
        assert window.surprise(5.5) > 10.0

    def test_scores_nothing_before_it_has_learned_enough(self):
        window = ExtremesWindow(window=100)
        window.learn(1.0)
        assert window.surprise(1000.0) == 0.0


class TestSeasonalLag:
    def test_memory_is_bounded_at_any_sampling_rate(self):
        season = 1440 * 1000
        lag = SeasonalLag(season, seasons=2)
        for ts in range(0, 5 * season, 100):  # 10 readings a second for five seasons
            lag.observe(ts, 1.0)
        assert len(lag._values) <= 2 * SLOTS + 1

    def test_a_gap_leaves_no_seasonal_value(self):
        lag = SeasonalLag(1440 * 1000)
        lag.observe(0, 1.0)
        assert lag.observe(1440 * 1000 + 5 * 1000, 2.0) is None
        assert lag.observe(2 * 1440 * 1000 + 5 * 1000, 3.0) == 2.0

    def test_the_closest_of_the_past_seasons_is_compared(self):
        lag = SeasonalLag(1440 * 1000, seasons=3)
        for day, value in enumerate((1.0, 50.0, 2.0)):  # one odd day in three
            lag.observe(day * 1440 * 1000, value)
        assert lag.observe(3 * 1440 * 1000, 1.5) in (1.0, 2.0)


class TestPeakSuppressor:
    def test_a_burst_is_reported_once_and_again_once_forgotten(self):
        peaks = PeakSuppressor(readings=10)
        burst = [peaks.filter(3.0) for _ in range(20)]
        assert burst[0] == 3.0 and burst[1:] == [0.0] * 19  # a plateau is one event
        quiet = [peaks.filter(0.0) for _ in range(10)]
        assert quiet == [0.0] * 10
        assert peaks.filter(3.0) == 3.0  # the burst has decayed to nothing

    def test_a_higher_surprise_is_always_reported(self):
        peaks = PeakSuppressor(readings=100)
        assert [peaks.filter(u) for u in (2.0, 1.0, 2.5)] == [2.0, 0.0, 2.5]

    def test_zero_readings_passes_everything_through(self):
        peaks = PeakSuppressor(readings=0)
        assert [peaks.filter(u) for u in (2.0, 2.0)] == [2.0, 2.0]


class TestExtremesThroughTheProcessor:
    def test_no_look_ahead_with_timestamps(self):
        values = daily(4)
        altered = values[:700] + [v * 7 + 100 for v in values[700:]]
        assert scores(values)[:700] == scores(altered)[:700]

    def test_a_broken_daily_pattern_needs_the_seasonal_feature(self):
        values = daily(8, seed=1)
        frozen = 6 * DAY + DAY // 4  # the cycle's peak on day 7 ...
        values[frozen : frozen + DAY // 2] = [10.0] * (DAY // 2)  # ... held at its mean
        with_season = scores(values)
        without = scores(values, season_s=None)
        normal = max(with_season[3 * DAY : 6 * DAY])
        assert max(with_season[frozen : frozen + DAY // 2]) > max(normal, 0.6)
        assert max(without[frozen : frozen + DAY // 2]) < 0.6

    def test_a_level_shift_alarms_once_then_is_learned(self):
        values = daily(5, seed=2)
        values[4 * DAY :] = [v + 20.0 for v in values[4 * DAY :]]
        shifted = scores(values, season_s=None)[4 * DAY :]
        assert shifted[0] > 0.9
        assert sum(s >= 0.6 for s in shifted) <= 3


class TestPerFeatureSuppression:
    """``suppress_global``: each feature has its own peak suppressor, then a short global one."""

    @staticmethod
    def run(detector: Extremes, rows: list[dict[str, float]]) -> list[float]:
        out = []
        for x in rows:
            out.append(detector.score_one(x))
            detector.learn_one(x)
        return out

    def test_a_new_event_on_another_channel_is_reported_during_a_decaying_peak(self):
        rng = random.Random(3)
        rows = [{"a": 20.0 + rng.gauss(0, 0.2), "b": 5.0 + rng.gauss(0, 0.2)} for _ in range(600)]
        rows[400]["a"] = 60.0  # a large spike on one channel ...
        for x in rows[430:]:
            x["b"] += 3.0  # ... then a smaller, sustained shift on the other
        shared = self.run(Extremes(300, 20, None, suppress=200), rows)
        per_feature = self.run(Extremes(300, 20, None, suppress=200, global_suppress=10), rows)
        assert shared[400] > 0.9 and per_feature[400] > 0.9  # the spike, reported by both
        assert max(shared[430:460]) == 0.0  # one shared suppressor hides the shift ...
        assert per_feature[430] > 0.9  # ... which its own suppressor reports, once
        assert sum(s > 0.0 for s in per_feature[431:600]) <= 2

    def test_one_event_seen_by_several_features_is_reported_once(self):
        rng = random.Random(4)
        values = [20.0 + rng.gauss(0, 0.2) for _ in range(500)]
        values[400:] = [v + 30.0 for v in values[400:]]  # value and mean both break out
        detector = Extremes(300, 5, None, suppress=200, global_suppress=20)
        out = self.run(detector, [{"t": value} for value in values])
        assert out[400] > 0.9
        assert sum(s > 0.0 for s in out[401:420]) <= 1  # the mean's own break-out, at most

    def test_the_season_weight_scales_only_the_seasonal_feature(self):
        """A broken daily pattern (values and means in range) scores as its surprise times the
        weight; a spike on the first day (no season feature yet) scores the same either way."""
        broken = daily(6)
        at = 5 * DAY + 60
        broken[at] = broken[at - DAY // 2]  # the value half a day on: in range
        spiked = daily(1)
        spiked[DAY // 2] = 40.0  # far above the range
        runs: dict[tuple[int, float], list[float]] = {}
        for weight in (1.0, 0.5):
            for key, values in enumerate((broken, spiked)):
                detector = Extremes(
                    3000, 5, 86_400_000, suppress=0, seasons=3, season_weight=weight
                )
                out = runs[key, weight] = []
                for i, value in enumerate(values):
                    detector.observe_time(i * FIVE_MINUTES)
                    out.append(detector.score_one({"t": value}))
                    detector.learn_one({"t": value})
        full, half = runs[0, 1.0][at], runs[0, 0.5][at]
        u = full / (1.0 - full)  # the season's surprise: no other feature comes close
        assert u > 1.0 and half == pytest.approx(u / 2 / (1.0 + u / 2))
        assert runs[1, 0.5][DAY // 2] == runs[1, 1.0][DAY // 2] > 0.9
        assert "season_weight=0.5" in detector.name
