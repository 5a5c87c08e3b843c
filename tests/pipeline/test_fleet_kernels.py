"""The compiled round kernels (the default detector's and zscore's) give the numpy path's
bits: scores, shares, outliers and every row array, over rounds with rows not yet ready, NaN
and overflowing readings, constant channels, partial learning and several smoothing windows
and channel counts."""

from __future__ import annotations

import msgspec
import numpy as np
import pytest

from pipeline.detectors import fleet_shares
from pipeline.detectors.fleet_kernels import kernels_apply
from pipeline.detectors.fleet_mahalanobis import MahalanobisFleet
from pipeline.detectors.fleet_shares import shares_dict
from pipeline.detectors.fleet_zscore import ZScoreFleet
from pipeline.settings import Settings


def _pair(channels: int, smooth: int, **model: object) -> tuple[MahalanobisFleet, MahalanobisFleet]:
    settings = Settings.load(None, model={"smooth": smooth, **model}).model
    names = tuple(f"ch{j}" for j in range(channels))
    compiled, arrays = MahalanobisFleet(names, settings), MahalanobisFleet(names, settings)
    assert compiled.compiled and compiled.stuck is not None and compiled.stuck.compiled
    arrays.compiled = False
    if arrays.stuck is not None:
        arrays.stuck.compiled = False
    return compiled, arrays


def _rounds_alike(
    compiled: MahalanobisFleet | ZScoreFleet,
    arrays: MahalanobisFleet | ZScoreFleet,
    channels: int,
    turns: int,
    seed: int,
) -> tuple[int, int]:
    """Score and learn the same random rounds of 40 assets with both fleets (NaN, 1e200 and
    constant channels now and then, partial learning every third round); assert the same
    scores, outliers, shares and row arrays each round. The rounds that learned only some
    rows, and the scores above 0."""
    assets = 40
    for fleet in (compiled, arrays):
        for _ in range(assets):
            fleet.new_row()
    rng = np.random.default_rng(seed)
    partial = scored = 0
    for turn in range(turns):
        k = int(rng.integers(1, assets + 1))
        rows = np.sort(rng.choice(assets, k, replace=False))
        values = rng.standard_normal((k, channels)) * rng.uniform(0.1, 100) + np.arange(channels)
        if turn % 37 == 5:
            values[0, 0] = np.nan
        if turn % 41 == 7:
            values[-1, -1] = 1e200
        if turn % 13 == 3:
            values[:, 0] = 5.0
        got, expected = compiled.score(rows, values.copy()), arrays.score(rows, values.copy())
        assert repr(got.scores) == repr(expected.scores), turn  # (repr: NaN equals NaN)
        assert got.outliers == expected.outliers, turn
        assert [repr(shares_dict(s)) for s in got.contributions] == [
            repr(shares_dict(s)) for s in expected.contributions
        ], turn
        scored += sum(score > 0.0 for score in got.scores)
        learn = rng.random(k) < (1.0 if turn % 3 else 0.7)
        partial += not learn.all()
        compiled.learn(got, learn)
        arrays.learn(expected, learn)
        for name, array in compiled.rows.arrays.items():
            assert array.tobytes() == arrays.rows.arrays[name].tobytes(), (turn, name)
    return partial, scored


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the numpy path's overflows
@pytest.mark.parametrize(
    ("channels", "smooth", "model"),
    [(8, 1, {}), (8, 5, {}), (3, 2, {}), (12, 3, {}), (1, 1, {}), (8, 3, {"forget": 0.01})],
)
def test_compiled_rounds_give_the_numpy_rounds_bits(
    channels: int, smooth: int, model: dict[str, object]
) -> None:
    compiled, arrays = _pair(channels, smooth, **model)
    partial, _ = _rounds_alike(compiled, arrays, channels, 250, channels * 10 + smooth)
    assert partial > 50
    assert compiled.rows.arrays["count"].max() > channels + 20  # rows scored for long


def test_kernels_apply_to_the_widths_whose_sums_they_repeat() -> None:
    assert kernels_apply(8) and kernels_apply(1) and kernels_apply(128)
    assert not kernels_apply(0) and not kernels_apply(129)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("channels", [8, 3, 1])
def test_compiled_zscore_rounds_give_the_numpy_rounds_bits(channels: int) -> None:
    settings = Settings.load(None, model={"kind": "zscore"}).model
    names = tuple(f"ch{j}" for j in range(channels))
    compiled, arrays = ZScoreFleet(names, settings), ZScoreFleet(names, settings)
    assert compiled.compiled
    arrays.compiled = False
    _, scored = _rounds_alike(compiled, arrays, channels, 300, channels)
    assert scored > 1000


def test_compiled_shares_are_the_rounded_shares(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rounds of shares made by ``share_steps`` encode as those rounded ratio by ratio: random
    terms, zeros, a row of zeros, NaN, ratios at half a step and one term only."""
    rng = np.random.default_rng(5)
    names = tuple(f"ch{j}" for j in range(8))
    rounds = [rng.gamma(0.5, 2.0, (50, 8)) for _ in range(30)]
    zeros = rng.gamma(0.5, 2.0, (20, 8))
    zeros[zeros < 0.5] = 0.0
    rounds += [zeros, np.zeros((3, 8)), np.full((2, 8), np.nan), np.zeros((0, 8))]
    half = np.zeros((4, 8))
    half[:, 0], half[:, 1] = 0.00005, 0.99995  # 0.5 and 9999.5 steps
    rounds += [half, np.eye(8)]
    encode = msgspec.json.encode
    compiled = [encode(fleet_shares.round_shares(names, terms)) for terms in rounds]
    monkeypatch.setattr(fleet_shares, "_COMPILED_STEPS", False)
    assert compiled == [encode(fleet_shares.round_shares(names, terms)) for terms in rounds]
    assert b'"ch0":0.3333' in encode(
        fleet_shares.round_shares(names, np.array([[1.0] * 3 + [0] * 5]))
    )
