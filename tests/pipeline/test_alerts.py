"""Alert policy: warm-up, hysteresis, severity and one alert per state change."""

from __future__ import annotations

import pytest

from pipeline.alerts import AlertPolicy
from pipeline.settings import AlertSettings


@pytest.fixture
def policy_factory():
    def make(**settings: float) -> AlertPolicy:
        defaults: dict[str, float] = {
            "warmup": 0,
            "raise_after": 3,
            "clear_after": 2,
            "threshold": 0.8,
        }
        return AlertPolicy("press-07", AlertSettings.model_validate({**defaults, **settings}))

    return make


def run(policy: AlertPolicy, scores: list[float]) -> list[tuple[int, str]]:
    changes: list[tuple[int, str]] = []
    for ts, score in enumerate(scores):
        alert = policy.evaluate(ts, score, ["vib"], "hst")
        if alert is not None:
            changes.append((ts, alert.state))
    return changes


class TestAlertPolicy:
    def test_raises_after_k_consecutive_anomalous_readings(self, policy_factory):
        assert run(policy_factory(), [0.9, 0.9, 0.9]) == [(2, "raised")]

    def test_an_interrupted_streak_does_not_raise(self, policy_factory):
        assert run(policy_factory(), [0.9, 0.9, 0.1, 0.9, 0.9]) == []

    def test_raised_once_and_cleared_once_however_long_the_fault(self, policy_factory):
        scores = [0.95] * 50 + [0.1] * 50
        assert run(policy_factory(), scores) == [(2, "raised"), (51, "cleared")]

    def test_a_single_normal_reading_does_not_clear(self, policy_factory):
        scores = [0.95] * 5 + [0.1] + [0.95] * 5
        assert run(policy_factory(), scores) == [(2, "raised")]

    def test_warmup_never_alarms(self, policy_factory):
        policy = policy_factory(warmup=10)
        assert run(policy, [0.99] * 10) == []
        assert not policy.is_anomalous(0.1)
        assert run(policy, [0.99] * 3) == [(2, "raised")]

    def test_severity_follows_the_peak_score_of_the_streak(self, policy_factory):
        policy = policy_factory(high_threshold=0.95)
        alerts = [policy.evaluate(ts, 0.85, ["vib"], "hst") for ts in range(3)]
        assert alerts[-1] is not None and alerts[-1].severity == "low"
        policy = policy_factory(high_threshold=0.95)
        alerts = [policy.evaluate(ts, s, ["vib"], "hst") for ts, s in enumerate([0.97, 0.85, 0.85])]
        assert alerts[-1] is not None and alerts[-1].severity == "high"

    def test_cleared_alert_keeps_the_raised_identity(self, policy_factory):
        policy = policy_factory(raise_after=1, clear_after=1)
        raised = policy.evaluate(10, 0.9, ["vib", "temp"], "hst")
        cleared = policy.evaluate(11, 0.1, [], "hst")
        assert raised is not None and cleared is not None
        assert (cleared.alert_id, cleared.first_ts, cleared.channels) == (
            raised.alert_id,
            10,
            ["vib", "temp"],
        )
        assert policy.active is None


class TestAdaptiveThreshold:
    def test_threshold_rises_to_the_quantile_of_recent_scores(self, policy_factory):
        jumpy = [0.5, 0.85, 0.5, 0.5, 0.9, 0.5, 0.5, 0.5, 0.5, 0.5] * 20  # spikes, no streaks
        fixed = policy_factory()
        policy = policy_factory(adaptive=True, adaptive_quantile=0.95, adaptive_window=100)
        assert run(fixed, jumpy) == run(policy, jumpy) == []
        assert (fixed.threshold, policy.threshold) == (0.8, pytest.approx(0.9))
        burst = [0.85] * 5 + [0.5] * 5
        assert run(fixed, burst) == [(2, "raised"), (6, "cleared")]
        assert run(policy, burst) == []  # as high as this asset's ordinary spikes
        assert run(policy, [0.95] * 3) == [(2, "raised")]

    def test_threshold_never_falls_below_the_configured_one(self, policy_factory):
        policy = policy_factory(adaptive=True, adaptive_quantile=0.9, adaptive_window=100)
        run(policy, [0.1] * 300)
        assert policy.threshold == 0.8

    def test_scores_during_an_alarm_do_not_raise_the_threshold(self, policy_factory):
        policy = policy_factory(adaptive=True, adaptive_quantile=0.5, adaptive_window=100)
        run(policy, [0.1] * 150)
        assert run(policy, [0.99] * 200) == [(2, "raised")]  # a long fault
        assert policy.threshold == 0.8  # its first two scores are remembered, the rest are not

    def test_not_adaptive_keeps_the_configured_threshold(self, policy_factory):
        policy = policy_factory()
        run(policy, [0.79] * 300)
        assert policy.threshold == 0.8


class TestSeverity:
    def test_medium_between_medium_and_high_thresholds(self, policy_factory):
        def severity(score: float) -> str:
            policy = policy_factory(medium_threshold=0.9, high_threshold=0.97, raise_after=1)
            alert = policy.evaluate(0, score, ["vib"], "m")
            assert alert is not None
            return alert.severity

        assert [severity(s) for s in (0.85, 0.93, 0.99)] == ["low", "medium", "high"]
