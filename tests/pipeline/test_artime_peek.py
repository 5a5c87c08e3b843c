"""ARTime's opinion of any reading (``artime_peek``) and ``Confirmed`` asking for it."""

from __future__ import annotations

import copy
import math
import random

import numpy as np

from pipeline.detectors import build_detector
from pipeline.detectors.art import DualVigilanceART, complement_code
from pipeline.detectors.artime import ARTime
from pipeline.detectors.artime_peek import ARTimeAnyPhase
from pipeline.detectors.confirmed import Confirmed
from pipeline.settings import ModelSettings
from tests.pipeline.scripted import Scripted, WithOpinion


def periodic(n: int, seed: int = 0) -> list[float]:
    rng = random.Random(seed)
    return [10.0 + 3.0 * math.sin(2 * math.pi * i / 40) + rng.gauss(0, 0.05) for i in range(n)]


def settled(probation: int = 300, below: float = 1.0) -> ARTimeAnyPhase:
    """ARTime past its probation on a periodic series, its next reading mid-step (step 2)."""
    detector = ARTimeAnyPhase(probation=probation, below=below)
    for value in periodic(1200):
        detector.score_one({"v": value})
    return detector


class TestPeek:
    def test_the_match_is_trains_without_learning_or_touching_a_category(self):
        rng = np.random.default_rng(3)
        art = DualVigilanceART(dim=4, rho_lb=0.7, rho_ub=0.9, capacity=6)
        for f in rng.random((20, 4)):
            art.train(f)
        for f in rng.random((10, 4)):
            before, last, match = copy.deepcopy(art), art._last, art._match
            peeked = art.best_match(complement_code(f))
            assert np.array_equal(art._w, before._w) and np.array_equal(art._used, before._used)
            assert art._last is last and art._match is match  # its caches untouched
            assert peeked == before.train(f, learn=False)  # the same arithmetic, bit for bit

    def test_asking_changes_none_of_artimes_own_scores(self):
        values = periodic(1200) + [14.0] * 30 + periodic(300, seed=2) + [4.0] * 30
        asked, plain = ARTimeAnyPhase(probation=300), ARTime(probation=300)
        opinions = []
        for value in values:
            own = asked.score_one({"v": value})
            opinions.append(asked.opinion())
            assert own == plain.score_one({"v": value})
        assert max(opinions) > 0.5  # it did see the new levels

    def test_a_new_level_mid_step_is_seen_on_the_reading_it_arrives(self):
        detector = settled()
        channel = detector._channels["v"]
        assert channel._down._count % channel._down.step == 0  # the next reading is mid-step
        assert detector.score_one({"v": 25.0}) == 0.0  # ARTime decides on the next reading
        assert detector.opinion() > 0.5

    def test_only_a_window_below_the_similarity_confirms(self):
        loose, strict = settled(), settled(below=0.01)
        for detector in (loose, strict):
            detector.score_one({"v": 25.0})
        assert loose.opinion() > 0.5 and strict.opinion() == 0.0

    def test_nothing_in_the_probation_and_nothing_on_the_usual_pattern_below_07(self):
        """A mid-step window mixes two steps' phases, so it can fall just below the lower
        vigilance on the usual pattern; well below any category (0.7) it does not."""
        detector = ARTimeAnyPhase(probation=300, below=0.7)
        opinions = []
        for value in periodic(1200):
            detector.score_one({"v": value})
            opinions.append(detector.opinion())
        assert max(opinions[:300]) == 0.0 and max(opinions[600:]) == 0.0


class TestConfirmedAsksTheOpinion:
    def test_only_where_the_primary_reports_and_instead_of_the_score(self):
        primary = Scripted([0.0, 0.4, 0.2, 0.5])
        second = WithOpinion([0.9, 0.0, 0.9, 0.0], opinions=[0.8, 0.1])
        detector = Confirmed(primary, second, gate=0.3)
        scores = [detector.score_one({"t": 0.0}) for _ in range(4)]
        # reading 0: the score 0.9 is no report's; reading 1: the opinion 0.8 lifts the 0.4
        assert scores == [0.0, 0.8, 0.2, 0.5] and second.asked == 2

    def test_a_snapshot_from_before_the_opinion_scores_as_before(self):
        detector = Confirmed(Scripted([0.5]), WithOpinion([0.9], opinions=[0.0]), gate=0.3)
        del detector._opinion  # the state an older version pickled
        assert detector.score_one({"t": 0.0}) == 0.9

    def test_the_factory_builds_the_any_phase_second_opinion(self):
        settings = ModelSettings(kind="extremes_artime", artime_any_phase=True, artime_below=0.7)
        detector = build_detector(settings)
        assert isinstance(detector, Confirmed) and isinstance(detector.second, ARTimeAnyPhase)
        assert detector.second.below == 0.7 and ",below=0.7)" in detector.name
        plain = build_detector(ModelSettings(kind="extremes_artime"))
        assert isinstance(plain, Confirmed) and type(plain.second) is ARTime
