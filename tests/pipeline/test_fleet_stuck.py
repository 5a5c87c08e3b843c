"""The fleet's frozen-sensor watch in arrays decides exactly as one StuckWatch per asset."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from pipeline.detectors.fleet import RowArrays
from pipeline.detectors.fleet_stuck import SHAPES, StuckRows
from pipeline.detectors.stuck import StuckWatch

CHANNELS = ("flow", "temp")


def stream(seed: int, n: int) -> list[tuple[int, list[float], bool]]:
    """(asset, values, learn) of 3 assets: live, quantised and frozen stretches, NaN too."""
    rng = random.Random(seed)
    out = []
    for t in range(n):
        asset = rng.randrange(3)
        temp = 40.0 if 500 < t < 600 + 60 * asset else round(40 + rng.gauss(0, 0.3), 2)
        flow = float(t // rng.choice([1, 5, 40])) if rng.random() > 0.01 else float("nan")
        out.append((asset, [flow, temp], rng.random() > 0.1))
    return out


def run(seed: int, n: int, swap_at: int, compiled: bool = True) -> int:
    """Compare the two on ``stream(seed, n)`` (the fleet's compiled kernels or its array
    calls); the number of stuck verdicts."""
    watches = [StuckWatch(after=5) for _ in range(3)]
    rows = RowArrays(SHAPES(len(CHANNELS)))
    fleet = StuckRows(CHANNELS, after=5)
    fleet.compiled = compiled
    ids, verdicts = [], 0
    for _ in range(3):
        ids.append(rows.alloc())
        fleet.reset(rows.arrays, ids[-1])
    for t, (asset, values, learn) in enumerate(stream(seed, n)):
        if t == swap_at:  # through a StuckWatch and back, as when snapshotted and restored
            for i in range(3):
                restored = fleet.unload(rows.arrays, ids[i])
                assert fleet.fits(restored)
                fleet.reset(rows.arrays, ids[i])
                fleet.load(rows.arrays, ids[i], restored)
        x = dict(zip(CHANNELS, values, strict=True))
        expected = watches[asset].observe(x)
        at = np.array([ids[asset]])
        assert fleet.observe(rows.arrays, at, np.array([values])).get(0, []) == expected
        verdicts += bool(expected)
        if learn:
            watches[asset].learn(x)
            fleet.learn(rows.arrays, at)
    return verdicts


@hypothesis_settings(suppress_health_check=[HealthCheck.too_slow], deadline=None, max_examples=30)
@given(st.integers(0, 10_000), st.integers(0, 900), st.booleans())
def test_decides_like_a_stuck_watch_per_asset(seed, swap_at, compiled):
    run(seed, 900, swap_at, compiled)


@pytest.mark.parametrize("compiled", [True, False])
def test_the_comparison_sees_stuck_channels(compiled):
    assert run(0, 900, 550, compiled) > 10


def test_catches_the_frozen_channel():
    rows = RowArrays(SHAPES(1))
    fleet = StuckRows(("t",), after=5)
    row = rows.alloc()
    fleet.reset(rows.arrays, row)
    at = np.array([row])
    rng = random.Random(1)
    for _ in range(300):
        fleet.observe(rows.arrays, at, np.array([[rng.gauss(40, 1)]]))
        fleet.learn(rows.arrays, at)
    flags = [fleet.observe(rows.arrays, at, np.array([[41.0]])) for _ in range(8)]
    assert flags[:5] == [{}] * 5 and flags[5:] == [{0: ["t"]}] * 3


def test_refuses_other_parameters_and_channels():
    fleet = StuckRows(CHANNELS, after=5)
    assert not fleet.fits(StuckWatch(after=6))
    other = StuckWatch(after=5)
    other.observe({"vibration": 1.0})
    assert not fleet.fits(other)
