"""Every detector kind through the same contract checks, as river's check_estimator does."""

from __future__ import annotations

import math
import pickle
import random

import pytest

from pipeline.detectors import KINDS, Detector, build_detector
from pipeline.settings import ModelSettings

SMALL = {
    "n_trees": 5,
    "height": 4,
    "window_size": 50,
    "calibration_window": 200,
    "robust_window": 100,
    "smooth": 1,
    "min_rel_std": 1e-4,
    "extremes_window": 200,
    "suppress": 0,  # extremes reports an event once; the step check wants its every reading
    "artime_probation": 200,  # ARTime scores from reading 200 (the streams hold 300 to 600)
}

CONFIGS = [pytest.param({"kind": kind}, id=kind) for kind in KINDS] + [
    pytest.param({"kind": "mahalanobis", "calibration": "likelihood"}, id="mahalanobis-lik"),
    pytest.param({"kind": "robust", "smooth": 5}, id="robust-smooth"),
    pytest.param({"kind": "ensemble", "members": ["hst_features", "mahalanobis"]}, id="ens-hst"),
    pytest.param({"kind": "mahalanobis", "drift": True, "drift_patience": 50}, id="drift"),
    pytest.param({"kind": "extremes", "suppress": 100}, id="extremes-suppress"),
    pytest.param(
        {"kind": "extremes", "suppress": 100, "suppress_global": 20, "season_weight": 0.9},
        id="extremes-feature-suppress",
    ),
    pytest.param({"kind": "artime", "artime_categories": 5}, id="artime-small-memory"),
    pytest.param(
        {"kind": "extremes", "suppress": 100, "refractory_level": 0.6, "refractory_hold": 10},
        id="extremes-refractory",
    ),
    pytest.param(
        {"kind": "extremes_artime", "artime_lag": 3, "refractory_level": 0.58},
        id="extremes-artime-lag-refractory",
    ),
    pytest.param(
        {"kind": "extremes_artime", "artime_any_phase": True, "artime_below": 0.7},
        id="extremes-artime-any-phase",
    ),
]


def stream(n: int, seed: int = 0, fault_at: int | None = None) -> list[dict[str, float]]:
    """Two correlated channels and an independent one; a step on ``vib`` from ``fault_at``."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        load = math.sin(i / 15) + rng.gauss(0, 0.1)
        vib = 1.0 + 0.5 * load + rng.gauss(0, 0.05)
        if fault_at is not None and i >= fault_at:
            vib += 3.0
        rows.append({"load": load, "vib": vib, "temp": 40.0 + rng.gauss(0, 0.2)})
    return rows


def run(detector: Detector, rows: list[dict[str, float]]) -> list[float]:
    """The Processor's loop: score, then learn what is neither anomalous nor an outlier."""
    scores = []
    for x in rows:
        score = detector.score_one(x)
        if score < 0.99 and not detector.is_outlier(x):
            detector.learn_one(x)
        scores.append(score)
    return scores


@pytest.fixture(params=CONFIGS)
def make(request):
    settings = ModelSettings.model_validate({**SMALL, **request.param})
    return lambda: build_detector(settings)


class TestDetectorContract:
    def test_follows_the_protocol(self, make):
        detector = make()
        assert isinstance(detector, Detector)
        assert isinstance(detector.name, str) and detector.name

    def test_scores_are_probabilities(self, make):
        scores = run(make(), stream(600, fault_at=400))
        assert all(0.0 <= s <= 1.0 for s in scores)

    def test_same_input_gives_identical_scores(self, make):
        rows = stream(400, seed=1)
        assert run(make(), rows) == run(make(), rows)

    def test_no_look_ahead(self, make):
        rows = stream(400, seed=2)
        altered = rows[:250] + [{k: v * 7 + 100 for k, v in x.items()} for x in rows[250:]]
        assert run(make(), rows)[:250] == run(make(), altered)[:250]

    def test_pickle_round_trip_gives_identical_future_scores(self, make):
        rows = stream(500, seed=3, fault_at=420)
        detector = make()
        run(detector, rows[:300])
        restored = pickle.loads(pickle.dumps(detector))
        assert run(restored, rows[300:]) == run(detector, rows[300:])

    def test_a_step_fault_scores_high_and_names_the_channel(self, make):
        detector = make()
        rows = stream(500, seed=4, fault_at=400)
        scores = run(detector, rows[:401])
        reported_once = detector.name.startswith(("extremes", "artime", "confirmed", "refractory"))
        # a detector that reports once names the channels of the reading it reports
        contributions = detector.contributions(rows[400]) if reported_once else {}
        scores += run(detector, rows[401:420])
        normal, fault = scores[300:400], scores[400:420]
        if reported_once:
            assert fault[0] > max(normal) and fault[0] > 0.9
        else:
            assert sum(fault) / len(fault) > sum(normal) / len(normal) + 0.3
            contributions = detector.contributions(rows[420])
        assert sum(s >= 0.99 for s in normal) <= 10
        assert max(contributions, key=lambda name: contributions[name]) == "vib"
        assert sum(contributions.values()) == pytest.approx(1.0, abs=1e-3)

    def test_contributions_are_empty_or_shares_of_known_channels(self, make):
        detector = make()
        x = {"a": 1.0, "b": 2.0}
        assert detector.contributions(x) in ({}, {"a": 0.5, "b": 0.5}) or set(
            detector.contributions(x)
        ) <= {"a", "b"}


class TestBuildDetector:
    def test_hst_is_the_original_asset_model(self):
        from pipeline.model import AssetModel

        assert isinstance(build_detector(ModelSettings(kind="hst")), AssetModel)

    def test_every_kind_has_a_distinct_name(self):
        names = {build_detector(ModelSettings.model_validate({"kind": k})).name for k in KINDS}
        assert len(names) == len(KINDS)


class TestProcessorState:
    @pytest.mark.parametrize("kind", KINDS)
    def test_asset_state_pickles_and_resumes_identically(self, kind):
        from pipeline.messages import Reading, encode
        from pipeline.processor import Processor
        from pipeline.settings import Settings

        settings = Settings.load(None, model={"kind": kind, **SMALL}, alerts={"warmup": 50})
        messages = [encode(Reading("a", ts, x)) for ts, x in enumerate(stream(300, seed=6))]
        processor = Processor(settings)
        for message in messages[:200]:
            processor.process(message)
        resumed = Processor(settings)
        resumed.assets = pickle.loads(pickle.dumps(processor.assets))
        assert [resumed.process(m) for m in messages[200:]] == [
            processor.process(m) for m in messages[200:]
        ]
