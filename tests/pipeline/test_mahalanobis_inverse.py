"""The LU inverse of the Mahalanobis models scores as the pinv inverse it replaced.

``regularised_inverse`` inverts well-conditioned matrices by LU (a tenth of pinv's time) and
hands the rest to ``np.linalg.pinv``. These tests run the reference (every matrix by pinv,
the code before the change) next to it: raw scores agree to 1e-9 relative over long random
streams, near-singular ones included, and the service's outcomes (scores, alerts) are the
same on the fleet tests' fixtures.
"""

from __future__ import annotations

import math
import pickle
import random
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import pipeline.detectors.fleet_mahalanobis as fleet_mahalanobis
import pipeline.detectors.mahalanobis as mahalanobis
from pipeline.detectors.fleet import FleetSlot
from pipeline.detectors.mahalanobis import (
    CONDITION_LIMIT,
    OnlineMahalanobis,
    regularised_inverse,
)
from pipeline.messages import Reading
from pipeline.processor import Processor, Source
from pipeline.settings import Settings
from tests.pipeline.test_fleet import CONFIGS, per_reading, run_batches, settings_for, stream


def pinv_inverse(matrices: np.ndarray) -> np.ndarray:
    """The inverse as it was: ``pinv`` of every matrix."""
    inverse: np.ndarray = np.linalg.pinv(matrices).astype(np.float64)
    return inverse


class PinvMahalanobis(OnlineMahalanobis):
    """The reference model: the regularisation of :class:`OnlineMahalanobis`, pinv's inverse."""

    def _invert(self) -> np.ndarray:
        floor = (self.min_rel_std * np.abs(self._mean) + 1e-9) ** 2
        jitter = self.ridge * np.maximum(np.diag(self._cov), 0.0) + floor
        return pinv_inverse(self._cov + np.diag(jitter))


def readings(kind: str, n: int, seed: int) -> Iterator[dict[str, float]]:
    """Random readings of five channels; ``kind`` picks how (nearly) singular they are."""
    rng = random.Random(seed)
    for t in range(n):
        a, b = rng.gauss(0.0, 1.0), rng.gauss(0.0, 1.0)
        x = {
            "c0": 10.0 + a,
            "c1": 5.0 + 0.5 * a + 0.1 * b,
            "c2": 2.0 - 0.2 * a + rng.gauss(0.0, 0.05),
            "c3": 40.0 + math.sin(t / 20.0) + rng.gauss(0.0, 0.2),
            "c4": rng.gauss(0.0, 3.0),
        }
        if kind == "collinear":  # channels exact combinations of others
            x["c1"], x["c2"] = 2.0 * x["c0"], x["c0"] - x["c3"]
        elif kind == "constant":  # a stuck channel and a quantised one
            x["c2"], x["c4"] = 7.0, round(x["c4"])
        elif kind == "scales":  # magnitudes 1e-6 to 1e6 apart: pinv's territory
            x["c0"] *= 1e6
            x["c1"] *= 1e-6
            x["c4"] = 1e-3 * a + 1e-9 * b
        elif kind == "faults" and t % 50 > 44:  # the correlation breaks now and then
            x["c1"] -= 3.0 + (t % 50)
        yield x


STREAMS = ["correlated", "collinear", "constant", "scales", "faults"]


@pytest.mark.parametrize("kind", STREAMS)
@pytest.mark.parametrize(
    "params", [{}, {"forget": 0.01}, {"ridge": 0.0, "min_rel_std": 0.0}], ids=str
)
def test_scores_agree_with_pinv_over_long_streams(kind: str, params: dict[str, Any]) -> None:
    model, reference = OnlineMahalanobis(**params), PinvMahalanobis(**params)
    checked = 0
    for x in readings(kind, 3000, seed=STREAMS.index(kind)):
        got, expected = model.raw_one(x), reference.raw_one(x)
        assert (got is None) == (expected is None)
        if got is not None and expected is not None:
            assert got == pytest.approx(expected, rel=1e-9, abs=1e-12)
            deviations, reference_deviations = model.deviations(x), reference.deviations(x)
            for name, value in deviations.items():
                assert value == pytest.approx(reference_deviations[name], rel=1e-9, abs=1e-9)
            checked += 1
        model.learn_one(x)
        reference.learn_one(x)
    assert checked > 2900


def test_ill_conditioned_matrices_get_pinv_bit_for_bit() -> None:
    rng = np.random.default_rng(0)
    good = rng.standard_normal((4, 6, 6))
    good = good @ good.transpose(0, 2, 1) + 6.0 * np.eye(6)
    bad = good.copy()
    bad[1] = np.diag([1e9, 1.0, 1.0, 1.0, 1.0, 1e-9])  # condition 1e18: pinv truncates
    bad[2, :, 0] = bad[2, :, 1] = bad[2, 0, :] = bad[2, 1, :] = 1.0  # rank-deficient
    bad[3] = 0.0  # singular: inv fails for the stack, each matrix is inverted alone
    for stack in (bad[:3], bad):
        got = regularised_inverse(stack.copy())
        expected = np.linalg.pinv(stack)
        assert np.array_equal(got[1:3], expected[1:3])  # pinv's bits
        assert np.allclose(got[0], expected[0], rtol=1e-12, atol=0.0)
    conditions = [np.linalg.cond(m, 1) for m in good]
    assert max(conditions) < CONDITION_LIMIT
    assert np.array_equal(regularised_inverse(good), np.linalg.inv(good))  # the LU lane


@pytest.fixture
def pinv_everywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    """The detectors as they were (every inverse by pinv), fleet and per-reading alike."""
    monkeypatch.setattr(mahalanobis, "regularised_inverse", pinv_inverse)
    monkeypatch.setattr(fleet_mahalanobis, "regularised_inverse", pinv_inverse)


MAHALANOBIS = [config for config in CONFIGS if "mahalanobis" in str(config.values)]


@pytest.mark.parametrize("config", MAHALANOBIS)
def test_outcomes_are_those_of_the_pinv_detector(
    config: Any, request: pytest.FixtureRequest
) -> None:
    settings = settings_for(config)
    messages = stream(3000, seed=7)
    got = run_batches(Processor(settings), messages, [500, 3])  # the fleet
    got_alone = run_batches(per_reading(settings), messages, [500])
    request.getfixturevalue("pinv_everywhere")
    expected = run_batches(Processor(settings), messages, [500, 3])
    assert got == expected  # scores, contributions and alerts: identical
    assert got_alone == run_batches(per_reading(settings), messages, [500])
    assert sum(o.alert is not None for o in expected) >= 2


@pytest.fixture
def finite_linalg(monkeypatch: pytest.MonkeyPatch) -> None:
    """``inv`` and ``pinv`` refuse a non-finite matrix (pinv never returns on inf: a test
    that reached it would hang, not fail)."""
    for name in ("inv", "pinv"):
        real = getattr(np.linalg, name)

        def checked(matrices: np.ndarray, real: Any = real, name: str = name) -> Any:
            assert np.isfinite(matrices).all(), f"np.linalg.{name} given a non-finite matrix"
            return real(matrices)

        monkeypatch.setattr(np.linalg, name, checked)


def spd(n: int, size: int = 4, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    m = rng.standard_normal((n, size, size))
    return m @ m.transpose(0, 2, 1) + size * np.eye(size)


@pytest.mark.usefixtures("finite_linalg")
@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_non_finite_matrices_get_zeros_and_the_others_their_bits(bad: float) -> None:
    stack = spd(3)
    stack[1, 0, 0] = bad
    got = regularised_inverse(stack)
    assert np.array_equal(got[1], np.zeros((4, 4)))
    for i in (0, 2):
        assert np.array_equal(got[i], regularised_inverse(stack[i]))
    one = np.eye(3)
    one[0, 2] = one[2, 0] = bad
    assert np.array_equal(regularised_inverse(one), np.zeros((3, 3)))
    assert np.array_equal(regularised_inverse(stack[1:2]), np.zeros((1, 4, 4)))


def test_an_inf_matrix_returns_promptly_with_numpys_own_pinv() -> None:
    code = (
        "import numpy as np\n"
        "from pipeline.detectors.mahalanobis import regularised_inverse\n"
        "m = np.eye(3); m[0, 0] = np.inf\n"
        "s = np.stack([np.eye(3), m, np.full((3, 3), np.nan)])\n"
        "for a in (m, s):\n"
        "    print(np.isfinite(regularised_inverse(a)).all())\n"
    )
    done = subprocess.run(  # a child process: a hang in LAPACK holds the GIL, no thread could
        [sys.executable, "-W", "error", "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout.split()) == (0, ["True", "True"]), done.stderr


def huge_readings(at: int, n: int = 150) -> list[Reading]:
    """Readings of three correlated channels; three near ±1e160 from tick ``at`` (the decode
    bound of ±1e15 keeps them out of Kafka, not out of ``Processor.process_reading``)."""
    rng = random.Random(at)
    out = []
    for t in range(1, n + 1):
        base = rng.gauss(0.0, 1.0)
        values = {"a": 10.0 + base, "b": 5.0 + 0.5 * base + rng.gauss(0.0, 0.1), "c": base**2}
        if at <= t < at + 3:
            values = {"a": (-1) ** t * 1e160, "b": 3e160, "c": -2e159}
        out.append(Reading("asset-1", 1000 * t, values, seq=t))
    return out


@pytest.mark.usefixtures("finite_linalg")
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize("learn_anomalies", [False, True])
@pytest.mark.parametrize("at", [2, 60])
def test_readings_near_1e160_neither_hang_nor_raise(at: int, learn_anomalies: bool) -> None:
    """Learned in the warm-up, they overflow the covariance: the model then cannot score (0.0,
    as before it was ready), per reading and in the fleet alike; met later, they are outliers
    (not learned) and the readings after them score as usual."""
    settings = Settings.load(
        None,
        model={"calibration_window": 50, "smooth": 1, "learn_anomalies": learn_anomalies},
        alerts={"warmup": 10},
    )
    readings = huge_readings(at)
    alone = per_reading(settings)
    got_alone = [alone.process_reading(r) for r in readings]
    fleet = Processor(settings)
    got_fleet = [fleet._batch.run([(r, None, Source())], fleets=True)[0] for r in readings]
    scores = [o.score.score for o in got_alone if o.score is not None]
    assert len(scores) == len(readings) and all(math.isfinite(s) for s in scores)
    # the huge readings' own raw scores overflow (inf or NaN, their contributions NaN): the
    # fleet's and the per-reading sums may differ there, so they are not compared
    huge = range(at - 1, at + 2)
    for i in set(range(len(readings))) - set(huge):
        assert got_fleet[i].score == got_alone[i].score
    later = scores[at + 10 :]
    if at == 2:
        assert later == [0.0] * len(later)
        assert got_alone[-1].score is not None and got_alone[-1].score.contributions == {}
    else:
        assert 0.0 < sum(later) / len(later) < 0.8


def test_a_singular_matrix_leaves_the_others_of_its_stack_their_own_bits() -> None:
    stack = spd(3, size=6, seed=1)
    stack[1] = 0.0
    stack[1, :2, :2] = 1.0  # exactly singular: LinAlgError from inv
    with pytest.raises(np.linalg.LinAlgError):
        np.linalg.inv(stack)
    got = regularised_inverse(stack)
    for i in (0, 2):
        assert np.array_equal(got[i], regularised_inverse(stack[i]))  # the LU inverse alone
        assert np.array_equal(got[i], np.linalg.inv(stack[i]))
    assert np.array_equal(got[1], np.linalg.pinv(stack[1]))


def test_no_channels_no_error() -> None:
    assert regularised_inverse(np.zeros((0, 0))).shape == (0, 0)
    assert regularised_inverse(np.zeros((2, 0, 0))).shape == (2, 0, 0)
    model = OnlineMahalanobis()
    for _ in range(3):
        model.learn_one({})
    assert model.raw_one({}) == 0.0  # as with the pinv inverse
    assert model.deviations({}) == {}


def test_an_ill_conditioned_invertible_matrix_gets_pinv_in_a_stack_of_lu_inverses() -> None:
    """The masked lane: inv succeeds for the stack, only the doubtful row is redone by pinv."""
    stack = spd(3, size=6, seed=2)
    q, _ = np.linalg.qr(np.random.default_rng(3).standard_normal((6, 6)))
    stack[1] = (q * np.logspace(4, -4, 6)) @ q.T  # condition ~1e8: invertible, doubtful
    assert CONDITION_LIMIT < np.linalg.cond(stack[1], 1) < 1e12
    lu = np.linalg.inv(stack)  # no LinAlgError: the stack is not sent whole to pinv
    got = regularised_inverse(stack)
    for i in (0, 2):
        assert np.array_equal(got[i], lu[i])  # the LU bits
        assert np.array_equal(got[i], regularised_inverse(stack[i]))
    assert np.array_equal(got[1], np.linalg.pinv(stack[1]))  # pinv's bits
    assert np.array_equal(got[1], regularised_inverse(stack[1]))
    assert not np.array_equal(got[1], lu[1])  # (the two lanes differ in the last bits)


@pytest.mark.usefixtures("finite_linalg")
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize("fleet_first", [True, False])
def test_a_blind_model_stays_blind_through_snapshots_in_and_out_of_the_fleet(
    fleet_first: bool,
) -> None:
    settings = Settings.load(None, model={"calibration_window": 50, "smooth": 1})
    readings = huge_readings(2, n=120)
    head, tail = readings[:65], readings[65:]  # (65: a precision kept, not stale)

    def run(processor: Processor, part: list[Reading], fleets: bool) -> list[Any]:
        if not fleets:
            return [processor.process_reading(r) for r in part]
        return [processor._batch.run([(r, None, Source())], fleets=True)[0] for r in part]

    first = Processor(settings) if fleet_first else per_reading(settings)
    run(first, head, fleets=fleet_first)
    assert isinstance(first.assets["asset-1"].model, FleetSlot) == fleet_first
    snapshot = pickle.dumps(first.assets)
    for fleets in (True, False):
        resumed = Processor(settings) if fleets else per_reading(settings)
        resumed.assets = pickle.loads(snapshot)
        outcomes = run(resumed, tail, fleets)
        assert isinstance(resumed.assets["asset-1"].model, FleetSlot) == fleets
        assert all(o.score.score == 0.0 and o.score.contributions == {} for o in outcomes)
        model = pickle.loads(pickle.dumps(resumed.assets))["asset-1"].model  # per reading
        assert model.raw.raw_one(tail[-1].values) is None
        assert model.post._count == 0  # never taught a raw score
