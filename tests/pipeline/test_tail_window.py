"""The compact calibration window: ranks as the exact window does, 2 bytes a score."""

from __future__ import annotations

import bisect
import math
import pickle
import random
from collections import deque

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from pipeline.detectors.calibration import TailCalibrator
from pipeline.detectors.tail_window import BLOCKS, TailWindow, code, code_array
from pipeline.model import ScoreCalibrator

# well apart (more than the codes' 0.1 % resolution), of both signs and around zero
SPACED = [-3.0, -0.5, 0.0, 1e-5, 0.01, 0.5, 1.0, 1.01, 2.5, 3.0, 40.0]


def exact_tail(window: list[float], raw: float) -> float:
    ordered = sorted(window)
    return bisect.bisect_left(ordered, raw) / len(ordered) if ordered else 0.0


class TestCode:
    @given(st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=50))
    def test_codes_of_an_array_are_each_code(self, raws: list[float]) -> None:
        assert code_array(np.array(raws, dtype=np.float64)).tolist() == [code(raw) for raw in raws]

    def test_codes_at_the_level_boundaries(self) -> None:
        edges = 1e-6 * np.exp(np.arange(0, 32767, 3) * 1e-3)
        raws = np.concatenate([edges, np.nextafter(edges, 0.0), np.nextafter(edges, np.inf)])
        raws = np.concatenate([raws, -raws, [0.0, 1e300, -np.inf]])
        assert code_array(raws).tolist() == [code(raw) for raw in raws.tolist()]

    @given(
        st.lists(
            st.floats(min_value=1e-6, max_value=1.69e8)
            | st.floats(min_value=-1.69e8, max_value=-1e-6),
            max_size=50,
        )
    )
    def test_codes_of_magnitudes_between_zero_and_the_top_are_each_code(
        self, raws: list[float]
    ) -> None:  # the usual round's shortcut (no magnitude codes as zero or as the top level)
        assert code_array(np.array(raws, dtype=np.float64)).tolist() == [code(raw) for raw in raws]

    def test_codes_at_the_level_boundaries_inside_the_range(self) -> None:
        edges = 1e-6 * np.exp(np.arange(0, 32766, 3) * 1e-3)
        raws = np.concatenate([edges, np.nextafter(edges, np.inf), np.nextafter(edges[1:], 0.0)])
        raws = np.concatenate([raws, -raws])
        assert code_array(raws).tolist() == [code(raw) for raw in raws.tolist()]

    @given(st.floats(allow_nan=False), st.floats(allow_nan=False))
    def test_is_monotone(self, a: float, b: float) -> None:
        low, high = min(a, b), max(a, b)
        assert 0 <= code(low) <= code(high) <= 65535

    @given(st.floats(min_value=1e-6, max_value=1e8))
    def test_resolves_a_fifth_of_a_percent(self, raw: float) -> None:
        assert code(raw) < code(raw * 1.002)
        assert code(-raw * 1.002) < code(-raw)


class TestTailWindow:
    @given(
        st.integers(min_value=1, max_value=BLOCKS),
        st.lists(st.sampled_from(SPACED), max_size=80),
    )
    def test_a_small_window_is_the_exact_last_scores(self, window: int, raws: list[float]) -> None:
        tail, recent = TailWindow(window), deque[float](maxlen=window)
        for raw in raws:
            assert tail.tail_probability(raw) == exact_tail(list(recent), raw)
            tail.learn_one(raw)
            recent.append(raw)
        assert len(tail) == len(recent)

    @given(
        st.integers(min_value=5, max_value=60),
        st.lists(st.sampled_from(SPACED), max_size=300),
    )
    def test_a_window_keeps_its_latest_scores_dropping_a_block_at_a_time(
        self, window: int, raws: list[float]
    ) -> None:
        tail = TailWindow(window)
        for i, raw in enumerate(raws):
            tail.learn_one(raw)
            held = len(tail)
            assert min(i + 1, window - tail.block + 1) <= held <= window
            latest = raws[i + 1 - held : i + 1]
            for probe in SPACED:
                assert tail.tail_probability(probe) == exact_tail(latest, probe)

    def test_a_full_default_window_takes_two_bytes_a_score(self) -> None:
        tail, rng = TailWindow(10_000), random.Random(1)
        for _ in range(30_000):
            tail.learn_one(rng.expovariate(1.0))
        assert 7_500 < len(tail) <= 10_000
        assert sum(len(block) * block.itemsize for block in tail._blocks) == 2 * len(tail)

    def test_ranks_within_the_codes_resolution_of_the_exact_window(self) -> None:
        rng = random.Random(2)
        raws = [math.sqrt(sum(rng.gauss(0, 1) ** 2 for _ in range(8))) for _ in range(3000)]
        tail = TailWindow(1000)
        for raw in raws:
            tail.learn_one(raw)
        latest = raws[-len(tail) :]
        for probe in (0.5, 2.0, 2.8, 3.5, 4.5, 6.0):
            assert abs(tail.tail_probability(probe) - exact_tail(latest, probe)) < 0.005

    def test_pickles_and_goes_on_learning_alike(self) -> None:
        tail = TailWindow(12)
        for raw in SPACED * 3:
            tail.learn_one(raw)
        restored = pickle.loads(pickle.dumps(tail))
        for raw in SPACED:
            tail.learn_one(raw)
            restored.learn_one(raw)
            assert restored.tail_probability(raw) == tail.tail_probability(raw)
        assert len(restored) == len(tail)


class TestTailCalibratorSnapshots:
    def test_an_exact_window_from_an_older_snapshot_is_converted(self) -> None:
        old = TailCalibrator(10)
        exact = ScoreCalibrator(10)
        for raw in SPACED * 2:
            exact.learn_one(raw)
        old._calibrator = exact  # type: ignore[assignment]  # as pickled before TailWindow
        old._count = len(SPACED) * 2
        restored = pickle.loads(pickle.dumps(old))
        assert isinstance(restored._calibrator, TailWindow)
        latest = list(exact.recent())
        assert len(restored._calibrator) == len(latest)
        for probe in SPACED:
            assert restored.score(probe) == exact_tail(latest, probe)
