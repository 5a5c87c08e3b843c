"""SKAB metrics: hand-computed F1, FAR and MAR, pooled over files after the warm-up rows."""

from __future__ import annotations

import pytest

from pipeline.evaluation.skab import WARMUP_ROWS, Confusion, confusion, pooled


class TestSkabMetrics:
    def test_counts_and_ratios_of_one_file(self):
        labels = [0, 0, 0, 0, 1, 1, 1, 1, 0, 0]
        alarms = [0, 1, 0, 0, 0, 1, 1, 1, 1, 0]
        counts = confusion(labels, alarms)
        assert counts == Confusion(tp=3, fp=2, tn=4, fn=1)
        assert counts.f1 == pytest.approx(6 / 9)  # 2*3 / (2*3 + 2 + 1)
        assert counts.far == pytest.approx(100 * 2 / 6)
        assert counts.mar == pytest.approx(100 * 1 / 4)

    def test_warm_up_rows_are_not_scored(self):
        labels = [1] * WARMUP_ROWS + [0, 1]
        alarms = [0] * WARMUP_ROWS + [1, 1]
        assert pooled([(labels, alarms)]) == Confusion(tp=1, fp=1, tn=0, fn=0)

    def test_counts_are_pooled_before_the_ratios(self):
        # File A alone: F1 = 1; file B alone: F1 = 0. Pooled: 2*2 / (2*2 + 0 + 2) = 2/3,
        # not the mean of the per-file F1s (0.5).
        a = ([0, 1, 1], [0, 1, 1])
        b = ([0, 1, 1], [0, 0, 0])
        counts = pooled([a, b], warmup=0)
        assert counts == Confusion(tp=2, fp=0, tn=2, fn=2)
        assert counts.f1 == pytest.approx(2 / 3)
        assert counts.far == 0.0 and counts.mar == 50.0

    def test_the_null_and_perfect_detectors(self):
        labels = [0, 0, 1, 1]
        assert (confusion(labels, [0] * 4).f1, confusion(labels, [0] * 4).mar) == (0.0, 100.0)
        perfect = confusion(labels, labels)
        assert (perfect.f1, perfect.far, perfect.mar) == (1.0, 0.0, 0.0)

    def test_lengths_must_match(self):
        with pytest.raises(ValueError, match="labels"):
            confusion([0, 1], [0])
