"""NAB scoring: the rules on small cases, and the reference detectors' published numbers."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from pipeline.evaluation import nab

# reference/README.md, "Scores on this 51-file subset".
OPTIMISED = {
    "numenta": (72.97, 66.62, 76.82),
    "random": (17.59, 8.21, 26.41),
    "null": (0.0, 0.0, 0.0),
}
OFFICIAL = {
    "numenta": (72.97, 65.83, 76.82),
    "random": (14.34, 4.91, 23.65),
}
OFFICIAL_THRESHOLDS = {
    "numenta": (0.5421876907348634, 0.5751955032348636, 0.5421876907348634),
    "random": (0.9984497070312507, 0.9995117187500009, 0.9984497070312507),
}
OPTIMISED_THRESHOLDS = {
    "numenta": (0.543099145074,) * 3,
    "random": (0.99944513526, 0.999595043934, 0.996438232097),
}
PROFILE_ORDER = ("standard", "reward_low_FP_rate", "reward_low_FN_rate")


def minutes(n: int) -> list[str]:
    return [str(pd.Timestamp("2024-01-01") + pd.Timedelta(minutes=m)) for m in range(n)]


def raw(scores: list[float], windows, profile: str = "standard", threshold: float = 0.5):
    stamps = minutes(len(scores))
    result = nab.score_corpus(
        {"f": (stamps, scores)},
        {"f": windows},
        {profile: nab.PROFILES[profile]},
        {profile: threshold},
    )
    return result[profile].raw


@pytest.fixture(scope="module")
def reference(datasets):
    """Each reference detector's files: name -> (timestamps, anomaly scores)."""
    root = datasets / "nab"
    windows = nab.load_windows(root / "labels" / "combined_windows.json")
    results = {}
    for detector in ("numenta", "random", "null"):
        files = {}
        for name in windows:
            category, file = name.split("/")
            path = root / "reference" / detector / category / f"{detector}_{file}"
            frame = pd.read_csv(path, usecols=["timestamp", "anomaly_score"])
            files[name] = (frame["timestamp"].tolist(), frame["anomaly_score"].to_numpy())
        results[detector] = files
    return windows, results


class TestNabRules:
    # 100 rows: probation is 15 rows; one window of 10 rows at rows 50-59.
    WINDOW = [(minutes(100)[50], minutes(100)[59])]

    def test_a_detection_at_the_first_row_of_a_window_earns_the_full_reward(self):
        scores = [0.0] * 100
        scores[50] = 1.0
        assert raw(scores, self.WINDOW) == pytest.approx(1.0)

    def test_only_the_earliest_alarm_of_a_window_counts(self):
        scores = [0.0] * 100
        scores[55] = scores[59] = 1.0
        expected = nab.scaled_sigmoid(-(59 - 55 + 1) / 10) / nab.scaled_sigmoid(-1.0)
        assert raw(scores, self.WINDOW) == pytest.approx(expected)
        scores[52] = 1.0
        assert raw(scores, self.WINDOW) > expected

    def test_a_missed_window_costs_the_fn_weight(self):
        assert raw([0.0] * 100, self.WINDOW, "reward_low_FN_rate") == -2.0

    def test_false_alarms_cost_more_the_further_they_are_from_the_window(self):
        def fp_cost(row: int) -> float:
            scores = [0.0] * 100
            scores[row] = 1.0
            return raw(scores, self.WINDOW) + 1.0  # minus the missed window

        assert fp_cost(30) == pytest.approx(-0.11)  # before the first window: full cost
        assert fp_cost(60) == pytest.approx(0.11 * nab.scaled_sigmoid(1 / 9))
        assert -0.11 < fp_cost(65) < fp_cost(60) < 0
        assert fp_cost(95) == pytest.approx(-0.11)  # beyond three widths
        assert fp_cost(10) == 0.0  # probation: not scored

    def test_the_low_fp_profile_doubles_the_cost_of_false_alarms(self):
        scores = [0.0] * 100
        scores[30] = 1.0
        assert raw(scores, self.WINDOW, "reward_low_FP_rate") == pytest.approx(-1.22)

    def test_the_optimised_threshold_never_does_worse_than_no_alarm(self):
        scores = [1.0] * 100  # alarms everywhere at any threshold <= 1
        result = nab.score_corpus({"f": (minutes(100), scores)}, {"f": self.WINDOW}, nab.PROFILES)
        assert result["standard"].normalised == 0.0
        assert result["standard"].threshold > 1.0

    def test_sigmoid_and_probation_match_nab(self):
        assert nab.scaled_sigmoid(-1.0) == pytest.approx(2 / (1 + math.exp(-5)) - 1)
        assert nab.probation_length(1000) == 150
        assert nab.probation_length(15902) == 750

    def test_profiles_match_the_datasets_profiles_file(self, datasets):
        assert nab.load_profiles(datasets / "nab" / "config" / "profiles.json") == nab.PROFILES


class TestNabReference:
    @pytest.mark.parametrize("detector", sorted(OPTIMISED))
    def test_optimised_scores_reproduce_the_reference(self, reference, detector):
        windows, results = reference
        scores = nab.score_corpus(results[detector], windows, nab.PROFILES)
        got = tuple(scores[p].normalised for p in PROFILE_ORDER)
        assert got == pytest.approx(OPTIMISED[detector], abs=0.01)

    @pytest.mark.parametrize("detector", sorted(OPTIMISED_THRESHOLDS))
    def test_the_optimised_thresholds_are_the_references(self, reference, detector):
        windows, results = reference
        scores = nab.score_corpus(results[detector], windows, nab.PROFILES)
        got = tuple(scores[p].threshold for p in PROFILE_ORDER)
        assert got == pytest.approx(OPTIMISED_THRESHOLDS[detector], abs=1e-9)

    @pytest.mark.parametrize("detector", sorted(OFFICIAL))
    def test_scores_at_the_official_thresholds_reproduce_the_reference(self, reference, detector):
        windows, results = reference
        thresholds = dict(zip(PROFILE_ORDER, OFFICIAL_THRESHOLDS[detector], strict=True))
        scores = nab.score_corpus(results[detector], windows, nab.PROFILES, thresholds)
        got = tuple(scores[p].normalised for p in PROFILE_ORDER)
        assert got == pytest.approx(OFFICIAL[detector], abs=0.01)

    def test_normalisation_is_over_the_files_scored(self, reference):
        windows, results = reference
        scores = nab.score_corpus(results["null"], windows, nab.PROFILES)
        assert scores["standard"].null == -97 and scores["standard"].perfect == 97
        assert scores["reward_low_FN_rate"].null == -194
