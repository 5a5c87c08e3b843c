"""The fast fuzzy ART and ``artime`` give exactly what the plain computation gives.

:class:`ReferenceART` is ``DualVigilanceART`` as it was before it reused the matches of a
repeated input: every step matches every category from scratch. Streams with many repeated
windows (flat stretches, quantised levels), vigilance changes and a full category memory must
give bit-identical results.
"""

from __future__ import annotations

import math
import pickle
import random

import numpy as np
import numpy.typing as npt
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.detectors.art import DualVigilanceART, Resonance, complement_code
from pipeline.detectors.artime import ARTime, ARTimeChannel
from pipeline.detectors.artime_features import coded_window, window_features
from pipeline.detectors.base import shares


class ReferenceART:
    """The straightforward dual-vigilance fuzzy ART (all matches recomputed every step)."""

    def __init__(self, dim: int, rho_lb: float = 0.0, rho_ub: float = 0.0, capacity: int = 2000):
        self.dim, self.rho_lb, self.rho_ub, self.capacity = dim, rho_lb, rho_ub, capacity
        self._w = np.empty((0, 2 * dim), dtype=np.float32)
        self._inv_size = np.empty(0)
        self._inv_energy = np.empty(0)
        self._used = np.zeros(0, dtype=np.int64)
        self._step = 0

    @property
    def categories(self) -> int:
        return len(self._w)

    def train(self, features: npt.NDArray[np.float64], learn: bool = True) -> Resonance:
        return self.train_coded(
            np.concatenate((features, 1.0 - features)).astype(np.float32), learn
        )

    def train_coded(self, x: npt.NDArray[np.float32], learn: bool = True) -> Resonance:
        self._step += 1
        if len(self._w) == 0:
            self._add(np.ones_like(x))
            return Resonance(0.0, 0.0, False)
        overlap = np.minimum(self._w, x)
        overlap_size = (overlap @ np.ones(2 * self.dim, dtype=np.float32)).astype(np.float64)
        energy_overlap = overlap[:, self.dim - 1] + overlap[:, -1]
        energy = energy_overlap * self._inv_energy
        match = overlap_size * self._inv_size
        match *= match * match
        match *= energy * energy
        best = int(np.argmax(match))
        similarity = float(match[best])
        if not similarity > 0.0:
            if learn:
                self._add(x)
            return Resonance(0.0, 0.0, True)
        self._used[best] = self._step
        resonance = Resonance(similarity, float(energy[best]), similarity < self.rho_lb)
        if learn and similarity >= self.rho_ub:
            resonant = np.flatnonzero(match >= self.rho_ub)
            self._w[resonant] = overlap[resonant]
            size, energy_size = overlap_size[resonant], energy_overlap[resonant]
            self._inv_size[resonant] = 1.0 / np.where(size > 0.0, size, 1e-3)
            self._inv_energy[resonant] = np.divide(
                1.0, energy_size, out=np.zeros(len(energy_size)), where=energy_size > 0.0
            )
            self._used[resonant] = self._step
        elif learn:
            self._add(x)
        return resonance

    def _add(self, x: npt.NDArray[np.float32]) -> None:
        size = float(x.sum(dtype=np.float64))
        energy = float(x[self.dim - 1]) + float(x[-1])
        inv_size, inv_energy = 1.0 / (size if size > 0.0 else 1e-3), 0.0
        if energy > 0.0:
            inv_energy = 1.0 / energy
        if len(self._w) >= self.capacity:
            slot = 1 + int(np.argmin(self._used[1:]))
            self._w[slot], self._inv_size[slot], self._inv_energy[slot] = x, inv_size, inv_energy
            self._used[slot] = self._step
            return
        self._w = np.vstack((self._w, x[None, :]))
        self._inv_size = np.append(self._inv_size, inv_size)
        self._inv_energy = np.append(self._inv_energy, inv_energy)
        self._used = np.append(self._used, self._step)


def _pool(rng: random.Random, size: int, dim: int) -> list[npt.NDArray[np.float32]]:
    """Coded inputs on a coarse grid (read-only, like ``coded_window``'s), so they repeat."""
    pool = []
    for _ in range(size):
        x = complement_code(np.array([rng.randrange(0, 9) / 8.0 for _ in range(dim)]))
        x.flags.writeable = False
        pool.append(x)
    return pool


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    capacity=st.sampled_from([3, 6, 2000]),
    repeat=st.floats(0.0, 0.9),
)
def test_art_matches_the_reference_step_for_step(seed: int, capacity: int, repeat: float) -> None:
    """Repeated inputs (the same object), fresh equal copies, vigilance moves and a full memory
    (the least recently matched category replaced): every resonance is bit-identical."""
    rng = random.Random(seed)
    pool = _pool(rng, 12, 3)
    fast, slow = DualVigilanceART(3, capacity=capacity), ReferenceART(3, capacity=capacity)
    x = pool[0]
    for step in range(300):
        if rng.random() > repeat:
            x = rng.choice(pool)
        if rng.random() < 0.05:
            x = x.copy()  # equal values, a new object: matched from scratch
        if rng.random() < 0.1:
            lower = rng.uniform(0.0, 0.9)
            fast.rho_lb = slow.rho_lb = lower
            fast.rho_ub = slow.rho_ub = rng.uniform(lower, 0.97)
        learn = step > 5 or rng.random() < 0.5
        assert fast.train_coded(x, learn) == slow.train_coded(x, learn), step
    assert fast.categories == slow.categories


def test_train_codes_its_input_as_the_reference_does() -> None:
    rng = np.random.default_rng(1)
    fast, slow = DualVigilanceART(4, 0.5, 0.8), ReferenceART(4, 0.5, 0.8)
    for features in rng.random((200, 4)).round(1):
        assert fast.train(features) == slow.train(features)


def test_a_coded_window_is_the_coded_features_and_shared() -> None:
    window = (0.25, 0.5, 0.5, 0.75, 0.0, 1.0, 0.5, 0.5)
    expected = np.concatenate((f := window_features(np.array(window)), 1.0 - f)).astype(np.float32)
    assert np.array_equal(coded_window(window), expected)
    assert coded_window(window) is coded_window(tuple(window))
    assert not coded_window(window).flags.writeable


def _stream(n: int, seed: int) -> list[float]:
    """Flat stretches, level shifts, spikes and noise: windows repeat, and some do not."""
    rng = random.Random(seed)
    out, level = [], 10.0
    for i in range(n):
        if rng.random() < 0.01:
            level += rng.choice([-3.0, 3.0])
        noise = rng.gauss(0, 0.3) if (i // 300) % 2 else 0.0
        spike = 8.0 if rng.random() < 0.003 else 0.0
        out.append(level + 2.0 * math.sin(i / 20.0) * (i % 700 < 350) + noise + spike)
    return out


def test_artime_channel_scores_as_with_the_reference_art() -> None:
    """The whole channel (memoised windows, repeated-input matches) against the same channel
    whose ART recomputes every match: the scores are identical, reading for reading."""
    for seed, categories in ((0, 200), (1, 12)):
        values = _stream(6000, seed)
        fast = ARTimeChannel(probation=300, categories=categories)
        slow = ARTimeChannel(probation=300, categories=categories)
        slow._art = ReferenceART(16, capacity=categories)  # type: ignore[assignment]
        fast_scores = [fast.score_one(v) for v in values]
        assert fast_scores == [slow.score_one(v) for v in values]
        assert sum(s > 0.0 for s in fast_scores) > 0


def test_artime_reports_its_channels_as_their_own_channels_score() -> None:
    """``ARTime`` over several channels (one of them sometimes not finite): the largest channel
    score, and the channels that reported, exactly as separate channels give them."""
    streams = {"a": _stream(3000, 2), "b": _stream(3000, 3), "c": _stream(3000, 4)}
    detector = ARTime(probation=300)
    channels = {name: ARTimeChannel(probation=300) for name in streams}
    for i in range(3000):
        x = {name: values[i] for name, values in streams.items()}
        if i % 97 == 5:
            x["c"] = math.nan
        scores = {n: channels[n].score_one(v) for n, v in x.items() if math.isfinite(v)}
        assert detector.score_one(x) == max(scores.values())
        assert detector.contributions(x) == shares({n: s for n, s in scores.items() if s > 0.0})


def test_a_snapshot_midway_carries_on_identically() -> None:
    """A restored channel no longer holds the memoised array it last matched (a copy comes
    back): it matches from scratch once, with the same scores as one never pickled."""
    values = _stream(4000, 5)
    kept, restored = ARTimeChannel(probation=300), ARTimeChannel(probation=300)
    for i, value in enumerate(values):
        if i in (1500, 2501):
            restored = pickle.loads(pickle.dumps(restored))
        assert kept.score_one(value) == restored.score_one(value), i


def test_a_snapshot_from_before_the_speed_work_restores() -> None:
    """A snapshot pickled without the attributes this version added (the last step's matches,
    the first steps' input) restores and scores on as the channel it was taken from."""
    values = _stream(3000, 6)
    kept = ARTimeChannel(probation=300)
    scores = [kept.score_one(v) for v in values[:1500]]
    old = pickle.loads(pickle.dumps(kept))
    del old.__dict__["_start"]
    for name in ("_overlap", "_last", "_match", "_sizes", "_energies", "_learned"):
        del old._art.__dict__[name]
    restored = pickle.loads(pickle.dumps(old))
    assert scores and [kept.score_one(v) for v in values[1500:]] == [
        restored.score_one(v) for v in values[1500:]
    ]
