"""The label join's buffer: targets from failures and from time passing, bounded, in order."""

from __future__ import annotations

import random

import pytest

from pipeline.supervised.buffer import LabelBuffer
from pipeline.supervised.prequential import Prequential


@pytest.fixture
def buffer_factory():
    def make(horizon_s=10, delay_s=0, interval_s=1, size=1000) -> LabelBuffer:
        return LabelBuffer(horizon_s * 1000, delay_s * 1000, interval_s * 1000, size)

    return make


def feed(buffer: LabelBuffer, seconds: range) -> list:
    resolved = []
    for second in seconds:
        resolved += buffer.add(second * 1000, ("v",), (float(second),), 0.5, 5.0)
    return resolved


class TestLabelBuffer:
    def test_readings_within_the_horizon_before_a_failure_are_positives(self, buffer_factory):
        buffer = buffer_factory(horizon_s=10, delay_s=100)
        feed(buffer, range(0, 50))
        resolved = buffer.on_failure(50_000)
        positives = [(item.ts, t.rul_s) for item, t in resolved if t.failure]
        assert positives == [(s * 1000, 50.0 - s) for s in range(40, 50)]
        assert all(not t.failure and t.rul_s == 10.0 for _, t in resolved[: -len(positives)])
        assert [item.ts for item, _ in resolved] == sorted(item.ts for item, _ in resolved)

    def test_a_reading_becomes_a_negative_only_after_horizon_and_label_delay(self, buffer_factory):
        buffer = buffer_factory(horizon_s=10, delay_s=5)
        assert feed(buffer, range(0, 16)) == []
        resolved = feed(buffer, range(16, 17))
        assert [(item.ts, t.failure) for item, t in resolved] == [(0, False)]

    def test_a_late_failure_label_within_the_delay_still_makes_positives(self, buffer_factory):
        buffer = buffer_factory(horizon_s=10, delay_s=30)
        feed(buffer, range(0, 60))  # the failure at 50 s is labelled 10 s late
        resolved = buffer.on_failure(50_000)
        assert sum(t.failure for _, t in resolved) == 11  # 40 s .. 50 s

    def test_readings_of_a_stopped_machine_get_no_target(self, buffer_factory):
        buffer = buffer_factory(horizon_s=10, delay_s=0)
        feed(buffer, range(0, 20))
        buffer.on_failure(20_000)
        assert feed(buffer, range(21, 100)) == [] and len(buffer) == 0
        buffer.on_maintenance(100_000)
        feed(buffer, range(100, 105))
        assert len(buffer) == 5

    def test_a_reading_older_than_a_known_failure_is_resolved_at_once(self, buffer_factory):
        buffer = buffer_factory(horizon_s=10)
        buffer.on_failure(30_000)  # the label overtook the readings
        resolved = feed(buffer, range(25, 26))
        assert [(item.ts, t.failure, t.rul_s) for item, t in resolved] == [(25_000, True, 5.0)]

    def test_the_buffer_is_bounded_and_counts_what_it_dropped(self, buffer_factory):
        buffer = buffer_factory(horizon_s=1000, size=50)
        feed(buffer, range(0, 200))
        assert len(buffer) == 50 and buffer.dropped == 150
        assert buffer.pending[0].ts == 150_000

    def test_vectors_are_sampled_every_interval(self, buffer_factory):
        buffer = buffer_factory(horizon_s=1000, interval_s=5)
        feed(buffer, range(0, 50))
        assert [item.ts // 1000 for item in buffer.pending] == list(range(0, 50, 5))


class TestPrequential:
    def test_roc_auc_matches_the_pairwise_definition(self):
        rng = random.Random(3)
        pairs = [(rng.random() < 0.3, round(rng.random(), 3)) for _ in range(400)]
        metrics = Prequential()
        for y, p in pairs:
            metrics.update(y, p, 0.0, 0.0)
        pos = [p for y, p in pairs if y]
        neg = [p for y, p in pairs if not y]
        wins = sum((a > b) + 0.5 * (a == b) for a in pos for b in neg)
        assert metrics.roc_auc == pytest.approx(wins / (len(pos) * len(neg)), abs=2e-3)

    def test_a_constant_predictor_has_auc_one_half(self):
        metrics = Prequential()
        for k in range(100):
            metrics.update(k % 3 == 0, 0.5, 0.0, 0.0)
        assert metrics.roc_auc == 0.5
