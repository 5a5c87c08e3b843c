"""The fleets' shortcuts give the same bits: column-wise reductions as numpy's, contributions
as structs that encode as the dicts."""

from __future__ import annotations

import random

import msgspec
import numpy as np
import pytest

from pipeline.detectors.fleet_math import _pairwise, last_axis_max, last_axis_sums, python_round
from pipeline.detectors.fleet_shares import round_shares, share_texts, shares_dict
from pipeline.messages import Reading, encode
from pipeline.outcomes import Outcomes
from pipeline.processor import Processor, Source
from pipeline.settings import Settings


def awkward(shape: tuple[int, ...], seed: int) -> np.ndarray:
    """Values of wildly different magnitudes and signs, with signed zeros and a zero row."""
    rng = np.random.default_rng(seed)
    values = rng.standard_normal(shape) * 10.0 ** rng.uniform(-15, 15, shape)
    values[rng.random(shape) < 0.1] = -0.0
    values[rng.random(shape) < 0.05] = 0.0
    values[0] = -0.0
    return values


@pytest.mark.parametrize("width", [*range(1, 40), 63, 64, 65, 127, 128])
def test_sums_are_numpys_bit_for_bit(width):
    for shape in [(200, width), (30, 5, width)]:
        values = awkward(shape, width)
        expected, got = values.sum(axis=-1), last_axis_sums(values)
        assert np.array_equal(expected, got)
        assert np.array_equal(np.signbit(expected), np.signbit(got))
        assert np.array_equal(_pairwise(values), expected)  # the fast way, not the fallback


def test_wide_rows_fall_back_to_numpy():
    values = awkward((20, 300), 1)
    assert np.array_equal(last_axis_sums(values), values.sum(axis=-1))


@pytest.mark.parametrize("width", [1, 2, 7, 8, 9, 33])
def test_maxima_are_numpys(width):
    values = np.abs(awkward((300, width), width))
    values[5, 0] = np.nan
    values[6, -1] = np.inf
    assert np.array_equal(last_axis_max(values), values.max(axis=-1), equal_nan=True)


@pytest.mark.parametrize("kind", ["mahalanobis", "zscore"])
@pytest.mark.parametrize(
    "names",
    [("flow", "temp"), ("flow", "temp °C"), ('q"uote', "flow"), ("back\\slash", "flow")],
)
def test_shares_encode_as_the_outcomes_dicts_do(kind, names):
    """A round's contributions (structs where msgspec allows the channel names) encode as the
    dicts of the Outcome objects."""
    rng = random.Random(0)
    processor = Processor(Settings.load(None, model={"kind": kind}))
    values = [
        encode(
            Reading(f"a{i % 5}", 1000 * i, {names[0]: rng.gauss(5, 1), names[1]: rng.gauss(9, 2)})
        )
        for i in range(600)
    ]
    structs = False
    for start in range(0, len(values), 100):
        outcomes = processor.process_batch([(v, Source()) for v in values[start : start + 100]])
        assert isinstance(outcomes, Outcomes)
        structs |= any(type(c) is not dict for r in outcomes.rounds for c in r.contributions)
        encoded = outcomes.encoded_scores()
        scores = [o.score for o in list(outcomes) if o.score is not None]
        assert encoded == [encode(score) for score in scores]
    assert all(type(score.contributions) is dict for score in scores)
    assert any(score.contributions for score in scores)
    assert structs == all('"' not in name and "\\" not in name for name in names)


def test_every_share_text_is_the_bytes_msgspec_writes_for_its_float():
    """All 10,001 shares, and rounded ratios of awkward terms: text, float and dict agree."""
    shares = np.arange(10_001) / 10_000
    texts = share_texts(python_round(shares, 4))
    assert texts is not None
    encode = msgspec.json.encode
    assert [bytes(t) for t in texts] == [encode(round(k / 10_000, 4)) for k in range(10_001)]
    terms = np.abs(awkward((500, 6), 3))
    terms[0] = 1.0  # the zero row has no shares
    ratios = python_round(terms / terms.sum(axis=1)[:, None], 4)
    texts = share_texts(ratios)
    assert texts is not None
    assert [float(bytes(t)) for t in texts.ravel()] == ratios.ravel().tolist()
    names = tuple("abcdef")
    made = round_shares(names, terms)
    for row, shares_of_row in zip(ratios.tolist(), made, strict=True):
        assert shares_dict(shares_of_row) == dict(zip(names, row, strict=True))
        assert encode(shares_of_row) == encode(dict(zip(names, row, strict=True)))


def test_shares_out_of_range_keep_their_floats():
    assert share_texts(np.array([0.5, np.nan])) is None
    assert share_texts(np.array([0.5, 1.5])) is None
    assert share_texts(np.array([-0.0, 1.0])) is not None
    with np.errstate(invalid="ignore"):  # inf / inf
        made = round_shares(("a", "b"), np.array([[np.inf, 1.0]]))
    assert msgspec.json.encode(made[0]) == b'{"a":null,"b":0.0}'


def test_a_mahalanobis_round_takes_rows_of_any_integer_type() -> None:
    """Unsigned row indices once made the smoother's history slots floats (uint64 x int64)."""
    from pipeline.detectors.fleet_mahalanobis import MahalanobisFleet
    from pipeline.settings import ModelSettings

    outcomes = []
    for dtype in (np.int64, np.uint64):
        fleet = MahalanobisFleet(("a", "b"), ModelSettings(smooth=3))
        rows = np.array([fleet.new_row() for _ in range(3)], dtype=dtype)
        rng = np.random.default_rng(0)
        scores = []
        for _ in range(40):
            result = fleet.score(rows, rng.standard_normal((3, 2)))
            fleet.learn(result, np.ones(3, dtype=np.bool_))
            scores.append(result.scores)
        outcomes.append(scores)
    assert outcomes[0] == outcomes[1]
