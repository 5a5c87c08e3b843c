"""Drift adaptation: a lasting level shift raises one alert that clears, instead of lock-in."""

from __future__ import annotations

import random

import pytest

from pipeline.messages import Reading, encode
from pipeline.processor import Processor
from pipeline.settings import Settings


def states_after_level_shift(**model: object) -> tuple[list[tuple[int, str]], Processor]:
    processor = Processor(
        Settings.load(
            None,
            model={
                "kind": "mahalanobis",
                "calibration_window": 300,
                "smooth": 1,
                "min_rel_std": 1e-4,
                **model,
            },
            alerts={"warmup": 200, "threshold": 0.99, "raise_after": 5, "clear_after": 20},
        )
    )
    rng = random.Random(5)
    changes: list[tuple[int, str]] = []
    for ts in range(2500):
        level = 20.0 if ts < 600 else 26.0  # a new set point that stays
        values = {"flow": level + rng.gauss(0, 0.5), "temp": 40.0 + rng.gauss(0, 0.2)}
        outcome = processor.process(encode(Reading("a", ts, values)))
        if outcome.alert is not None:
            changes.append((ts, outcome.alert.state))
    return changes, processor


class TestDriftAdaptive:
    def test_without_drift_adaptation_the_alarm_never_clears(self):
        changes, _ = states_after_level_shift()
        assert [state for _, state in changes] == ["raised"]

    @pytest.mark.parametrize("kind", ["mahalanobis", "robust"])
    def test_a_lasting_level_shift_is_accepted_and_the_alarm_clears(self, kind):
        changes, processor = states_after_level_shift(
            kind=kind, drift=True, drift_patience=300, relearn=100
        )
        assert [state for _, state in changes] == ["raised", "cleared"]
        raised_ts, cleared_ts = changes[0][0], changes[1][0]
        assert 600 <= raised_ts < 620
        assert raised_ts + 300 <= cleared_ts < raised_ts + 400
        assert processor.assets["a"].model.adaptations == 1  # type: ignore[attr-defined]

    def test_a_fault_shorter_than_the_patience_keeps_alarming(self):
        changes, _ = states_after_level_shift(drift=True, drift_patience=5000)
        assert [state for _, state in changes] == ["raised"]
