"""The refractory period (one alarm per event) and ARTime's lagged confirmation."""

from __future__ import annotations

import math
import random

import pytest

from pipeline.detectors import build_detector
from pipeline.detectors.confirmed import Confirmed
from pipeline.detectors.drift import DriftAdaptive
from pipeline.detectors.refractory import Refractory
from pipeline.errors import ConfigError
from pipeline.messages import Reading
from pipeline.processor import Processor
from pipeline.settings import ModelSettings, Settings
from tests.pipeline.scripted import Scripted


def scores_of(detector: Refractory | Confirmed, n: int) -> list[float]:
    return [detector.score_one({"t": float(i)}) for i in range(n)]


class TestRefractory:
    def test_a_report_holds_the_next_ones_at_or_above_the_level(self):
        inner = Scripted([0.7, 0.6, 0.9, 0.59, 0.2, 0.8, 0.65])
        detector = Refractory(inner, level=0.6, hold=4)
        # 0.6 and 0.9 fall within 4 readings of the 0.7 report; 0.8 is 5 after it
        assert scores_of(detector, 7) == [0.7, 0.0, 0.0, 0.59, 0.2, 0.8, 0.0]

    def test_a_dropped_report_does_not_extend_the_hold(self):
        detector = Refractory(Scripted([0.9, 0.9, 0.9, 0.9, 0.9]), level=0.5, hold=2)
        assert scores_of(detector, 5) == [0.9, 0.0, 0.0, 0.9, 0.0]

    def test_scores_below_the_level_always_pass(self):
        values = [0.1, 0.55, 0.3, 0.599, 0.0]
        assert scores_of(Refractory(Scripted(values), level=0.6, hold=100), 5) == values

    def test_learning_contributions_and_outliers_are_the_inner_detectors(self):
        inner = Scripted([0.9, 0.2], contributions={"t": 1.0})
        detector = Refractory(inner, level=0.5, hold=5)
        scores_of(detector, 2)
        detector.learn_one({"t": 1.0})
        assert inner.learned == [{"t": 1.0}]
        assert detector.contributions({"t": 1.0}) == {"t": 1.0}
        assert detector.is_outlier({"t": 1.0}) is False

    def test_a_held_report_is_an_outlier_so_it_is_not_learned_as_normal(self):
        def outliers(learn_held: bool) -> list[bool]:
            detector = Refractory(Scripted([0.9, 0.9, 0.2]), 0.5, 5, learn_held=learn_held)
            out = []
            for _ in range(3):
                detector.score_one({"t": 0.0})
                out.append(detector.is_outlier({"t": 0.0}))
            return out

        assert outliers(learn_held=False) == [False, True, False]
        assert outliers(learn_held=True) == [False, False, False]

    def test_through_the_processor_a_held_report_is_not_learned(self):
        """With ``learn_anomalies = false`` an event's zeroed later reports stay unlearned,
        as they would be without the hold (they are anomalies either way)."""
        settings = Settings.load(
            None,
            model={
                "kind": "zscore",
                "refractory_level": 0.9999,
                "refractory_hold": 50,
                "learn_anomalies": False,
            },
            alerts={"warmup": 0, "threshold": 0.9999, "raise_after": 1},
        )
        processor = Processor(settings)
        rng = random.Random(1)
        for i in range(300):
            processor.process_reading(Reading("a", i, {"v": rng.gauss(0, 1)}))
        model = processor.assets["a"].model
        assert isinstance(model, Refractory)
        moments = model.inner.moments["v"]  # type: ignore[attr-defined]
        learned_before = moments.count
        scores = [  # 4.5 sd: anomalous, but not beyond zscore's own never-learn limit (6)
            processor.process_reading(Reading("a", 300 + i, {"v": 4.5})).score for i in range(10)
        ]
        assert [s is not None and s.score >= 0.9999 for s in scores] == [True] + [False] * 9
        assert moments.count == learned_before

    def test_the_hold_wraps_drift_adaptation_so_drift_still_sees_every_high_score(self):
        settings = ModelSettings(kind="zscore", drift=True, refractory_level=0.6)
        detector = build_detector(settings)
        assert isinstance(detector, Refractory)
        assert isinstance(detector.inner, DriftAdaptive)

    def test_a_refractory_period_needs_alerts_raised_by_one_reading(self):
        """Held reports score 0, so ``raise_after`` > 1 anomalous readings in a row would
        never come: refused with the reason, not an alert policy that never raises."""
        with pytest.raises(ConfigError, match="raise_after = 1"):
            Settings.load(None, model={"refractory_level": 0.6}, alerts={"raise_after": 5})
        with pytest.raises(ConfigError, match="refractory_level"):
            Settings.load(None, model={"refractory_level": 0.0}, alerts={"raise_after": 1})

    def test_a_hold_below_one_reading_is_refused(self):
        with pytest.raises(ValueError, match="hold"):
            Refractory(Scripted([]), level=0.5, hold=0)

    def test_the_factory_wraps_any_kind_and_names_it(self):
        settings = ModelSettings(kind="extremes", refractory_level=0.58, refractory_hold=30)
        detector = build_detector(settings)
        assert isinstance(detector, Refractory)
        assert detector.name.startswith("refractory(extremes(") and detector.name.endswith(
            ",level=0.58,hold=30)"
        )
        assert not isinstance(build_detector(ModelSettings(kind="extremes")), Refractory)

    def test_a_fleet_kind_with_a_refractory_period_runs_per_asset(self):
        """The fleets (mahalanobis, zscore) do not know the wrapper: the asset's own
        detector runs, so the setting is never silently ignored."""
        settings = Settings.load(
            None, model={"kind": "zscore", "refractory_level": 0.5}, alerts={"raise_after": 1}
        )
        assert Processor(settings)._batch.fleet_kind is None
        assert Processor(Settings.load(None, model={"kind": "zscore"}))._batch.fleet_kind

    def test_a_stream_reports_a_step_once_through_the_processor(self):
        """A step that escalates 5 readings later is reported twice without the hold (the
        second jump beats the first's peak), once with it."""
        rng = random.Random(5)
        values = [10.0 + math.sin(i / 12) + rng.gauss(0, 0.05) for i in range(2000)]
        values += [v + (8.0 if i < 5 else 40.0) for i, v in enumerate(values[:60])]
        model = {"kind": "extremes", "extremes_window": 1500, "learn_anomalies": True}
        alerts = {"warmup": 0, "threshold": 0.6, "raise_after": 1, "clear_after": 1}

        def run(extra: dict[str, object]) -> list[float]:
            processor = Processor(Settings.load(None, model=model | extra, alerts=alerts))
            out = []
            for i, value in enumerate(values):
                outcome = processor.process_reading(Reading("a", i * 300_000, {"v": value}))
                assert outcome.score is not None
                out.append(outcome.score.score)
            return out

        plain = run({})
        held = run({"refractory_level": 0.6, "refractory_hold": 30})
        alarms = [i for i, s in enumerate(plain) if s >= 0.6 and i >= 2000]
        assert alarms[:2] == [2000, 2005]
        assert [i for i, s in enumerate(held) if s >= 0.6 and i >= 2000] == [alarms[0]]
        # the hold only ever drops a report; every other score is the detector's own
        assert all(h == p or (h == 0.0 and p >= 0.6) for h, p in zip(held, plain, strict=True))


class TestLaggedConfirmation:
    def test_a_trailing_report_of_the_second_lifts_the_reading_it_lands_on(self):
        primary = Scripted([0.0, 0.4, 0.1, 0.0, 0.0, 0.0, 0.2])
        second = Scripted([0.9, 0.0, 0.0, 0.8, 0.0, 0.0, 0.7])
        detector = Confirmed(primary, second, gate=0.3, lag=2)
        # 0.8 lands 2 readings after the primary's 0.4; 0.9 comes before any report, 0.7 late
        assert scores_of(detector, 7) == [0.0, 0.4, 0.1, 0.8, 0.0, 0.0, 0.2]

    def test_lag_zero_is_the_same_reading_rule(self):
        primary = [0.0, 0.4, 0.2, 0.5, 0.9]
        second = [0.9, 0.8, 0.9, 0.0, 0.3]
        detector = Confirmed(Scripted(primary), Scripted(second), gate=0.3, lag=0)
        assert scores_of(detector, 5) == [0.0, 0.8, 0.2, 0.5, 0.9]
        assert ",lag=" not in detector.name

    def test_the_factory_passes_the_lag(self):
        detector = build_detector(ModelSettings(kind="extremes_artime", artime_lag=3))
        assert isinstance(detector, Confirmed) and detector.lag == 3
        assert detector.name.endswith(",lag=3)")

    def test_a_snapshot_from_before_the_lag_resumes_as_lag_zero(self):
        detector = Confirmed(Scripted([0.5, 0.1]), Scripted([0.9, 0.9]), gate=0.3)
        del detector.lag, detector._since_gate  # the state an older version pickled
        assert scores_of(detector, 2) == [0.9, 0.1]
