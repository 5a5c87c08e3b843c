"""``artime``'s parts (fuzzy ART, input stage, channel) and ``extremes_artime`` end to end."""

from __future__ import annotations

import math
import pickle
import random

import numpy as np
import pytest

from pipeline.detectors import build_detector
from pipeline.detectors.art import DualVigilanceART
from pipeline.detectors.artime import ARTime, ARTimeChannel
from pipeline.detectors.artime_features import Downsampler, Levels, haar_matrix
from pipeline.detectors.confirmed import Confirmed
from pipeline.messages import Reading
from pipeline.processor import Processor
from pipeline.settings import Settings
from tests.pipeline.scripted import Scripted


def periodic(n: int, seed: int = 0) -> list[float]:
    rng = random.Random(seed)
    return [10.0 + 3.0 * math.sin(2 * math.pi * i / 40) + rng.gauss(0, 0.05) for i in range(n)]


class TestDualVigilanceART:
    def test_a_resonant_input_grows_its_category_and_adds_none(self):
        art = DualVigilanceART(dim=2, rho_lb=0.5, rho_ub=0.6)
        art.train(np.array([0.5, 0.5]))
        art.train(np.array([0.4, 0.5]))
        near = art.train(np.array([0.42, 0.5]))
        assert not near.mismatch and near.similarity >= 0.6 and art.categories == 2
        assert art.train(np.array([0.41, 0.5])).similarity == pytest.approx(1.0)

    def test_between_the_vigilances_is_a_new_category_but_no_mismatch(self):
        art = DualVigilanceART(dim=2, rho_lb=0.5, rho_ub=0.99)
        art.train(np.array([0.5, 0.5]))
        art.train(np.array([0.4, 0.5]))
        result = art.train(np.array([0.45, 0.5]))
        assert not result.mismatch and art.categories == 3

    def test_memory_is_bounded_and_keeps_the_catch_all(self):
        art = DualVigilanceART(dim=1, rho_lb=0.99, rho_ub=0.99, capacity=4)
        for value in np.linspace(0.0, 1.0, 20):
            art.train(np.array([value]))
        assert art.categories == 4
        assert np.all(art._w[0] == 1.0)  # the catch-all is never replaced
        assert art.train(np.array([1.0])).similarity == pytest.approx(1.0)  # the latest is kept
        assert art.train(np.array([0.0])).mismatch  # the oldest was replaced


class TestInputStage:
    def test_downsampling_keeps_a_spike_either_way(self):
        down = Downsampler(step=4)
        out = [down.push(v) for v in [5.0] * 8 + [5.0, 50.0, 5.0, 5.0, 5.0, 5.0, -40.0, 5.0]]
        assert [v for v in out if v is not None] == [5.0, 5.0, 50.0, -40.0]

    def test_the_range_grows_after_the_probation_margin(self):
        levels = Levels(levels=100, chomp=0.0, margin=0.5)
        for value in (0.0, 10.0):
            levels.observe(value)
        levels.freeze()  # [-5, 15]
        assert levels.level(5.0) == pytest.approx(0.5)
        levels.observe(35.0)  # [-5, 35]
        assert levels.level(15.0) == pytest.approx(0.5)

    def test_levels_close_to_the_median_snap_to_it(self):
        levels = Levels(levels=80, chomp=0.075)
        levels.observe(0.0)
        levels.observe(1.0)
        for _ in range(10):
            levels.level(0.5)
        assert levels.level(0.53) == 0.5 and levels.level(0.7) == pytest.approx(0.7)

    def test_haar_is_orthonormal(self):
        haar = haar_matrix(8)
        assert np.allclose(haar @ haar.T, np.eye(8))


class TestChannel:
    def test_scores_nothing_during_the_probation(self):
        channel = ARTimeChannel(probation=200)
        assert max(channel.score_one(v) for v in periodic(200)) == 0.0

    def test_a_new_shape_is_reported_once_then_learned(self):
        channel = ARTimeChannel(probation=200)
        normal = [channel.score_one(v) for v in periodic(1200)]
        broken = [channel.score_one(v) for v in [10.0] * 200 + periodic(400, seed=1)]
        assert max(broken[:20]) > 0.5
        assert sum(s > 0.0 for s in broken[:200]) <= 3
        assert max(broken[:20]) > max(normal[600:])

    def test_a_later_reading_never_changes_an_earlier_score(self):
        values = periodic(800, seed=3)
        altered = values[:500] + [v * 5.0 + 100.0 for v in values[500:]]
        a, b = ARTimeChannel(probation=200), ARTimeChannel(probation=200)
        assert [a.score_one(v) for v in values][:500] == [b.score_one(v) for v in altered][:500]

    def test_the_detector_names_the_channel_that_broke_and_only_while_it_reports(self):
        detector = ARTime(probation=200)
        other = periodic(1040, seed=9)
        for i, v in enumerate(periodic(1000)):
            detector.score_one({"a": v, "b": other[i]})
        reported = []
        for i in range(40):
            x = {"a": 10.0, "b": other[1000 + i]}
            if detector.score_one(x) > 0.0:
                reported.append(detector.contributions(x))
        assert reported and all(max(c, key=lambda name: c[name]) == "a" for c in reported)
        x = {"a": 10.0, "b": other[1039]}  # "a" learned its new level: nothing reports now
        assert detector.score_one(x) == 0.0 and detector.contributions(x) == {}


class TestConfirmed:
    def test_the_second_opinion_only_raises_the_primarys_reports(self):
        primary = Scripted([0.0, 0.4, 0.2, 0.5, 0.9])
        second = Scripted([0.9, 0.8, 0.9, 0.0, 0.3])
        detector = Confirmed(primary, second, gate=0.3)
        assert [detector.score_one({"t": 0.0}) for _ in range(5)] == [0.0, 0.8, 0.2, 0.5, 0.9]


class TestThroughTheProcessor:
    def test_extremes_artime_runs_in_the_processor_and_keeps_extremes_reports(self):
        """The composition runs per reading with timestamps (extremes' season needs them) and
        reports what extremes reports (on this stream ARTime's reports land one reading after
        extremes' report, so nothing is lifted; the next test shifts the level by one reading)."""
        settings = Settings.load(
            None,
            model={
                "kind": "extremes_artime",
                "extremes_window": 2000,
                "artime_probation": 300,
                "learn_anomalies": True,
            },
            alerts={"warmup": 0, "threshold": 0.6, "raise_after": 1, "clear_after": 1},
        )
        processor = Processor(settings)
        values = periodic(3000) + [13.5] * 100 + periodic(300, seed=4)
        scores, models = [], set()
        for i, value in enumerate(values):
            outcome = processor.process_reading(Reading("a", i * 300_000, {"v": value}))
            assert outcome.score is not None
            scores.append(outcome.score.score)
            models.add(outcome.score.model.split("(", 2)[1])
        assert max(scores[3000:3100]) >= 0.6 > max(scores[1500:3000])
        assert models == {"extremes"}
        detector = build_detector(settings.model)
        assert isinstance(detector, Confirmed) and detector.name.startswith(
            "confirmed(extremes(window=2000"
        )
        assert ",artime(probation=300," in detector.name

    def test_artime_lifts_an_extremes_report_it_confirms_at_the_same_reading(self):
        """A level shift on the reading where ARTime's downsampled step lands (an odd index
        with probation 300: one value per 2 readings): extremes reports it weakly, ARTime
        reports a new cluster there too, and the composition returns ARTime's higher score;
        everywhere else it returns exactly extremes' score."""
        model = {"extremes_window": 2000, "learn_anomalies": True}
        both = Processor(
            Settings.load(
                None,
                model={**model, "kind": "extremes_artime", "artime_probation": 300},
                alerts={"warmup": 0, "threshold": 0.6},
            )
        )
        alone = Processor(
            Settings.load(
                None, model={**model, "kind": "extremes"}, alerts={"warmup": 0, "threshold": 0.6}
            )
        )
        values = periodic(3001) + [13.5] * 100 + periodic(300, seed=4)
        lifted = []
        for i, value in enumerate(values):
            reading = Reading("a", i * 300_000, {"v": value})
            confirmed, primary = both.process_reading(reading), alone.process_reading(reading)
            assert confirmed.score is not None and primary.score is not None
            if confirmed.score.score != primary.score.score:
                lifted.append((i, primary.score.score, confirmed.score.score))
        assert [i for i, _, _ in lifted] == [3001]
        (_, weak, strong) = lifted[0]
        assert 0.35 < weak < 0.7 < strong <= 1.0


def test_a_snapshot_leaves_the_last_steps_matches_out_and_resumes_alike():
    """The match caches are derived (3.3x a snapshot's size): not pickled, recomputed."""
    detector = build_detector(Settings.load(None, model={"kind": "artime"}).model)
    values = periodic(1500) + [13.5] * 50 + periodic(400, seed=4)
    for value in values[:1600]:
        detector.score_one({"v": value})
        detector.learn_one({"v": value})
    restored = pickle.loads(pickle.dumps(detector))
    art = restored._channels["v"]._art  # type: ignore[attr-defined]
    assert "_overlap" not in art.__getstate__() and "_match" not in art.__getstate__()
    for value in values[1600:]:
        x = {"v": value}
        assert restored.score_one(x) == detector.score_one(x)
        restored.learn_one(x)
        detector.learn_one(x)
