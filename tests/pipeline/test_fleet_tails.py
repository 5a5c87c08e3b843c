"""A fleet's calibration windows in arrays score and learn as the calibrator objects do, and
turn into (and back from) those objects."""

from __future__ import annotations

import pickle
import random

import numpy as np
import pytest

from pipeline.detectors.calibration import TailCalibrator
from pipeline.detectors.fleet_mahalanobis import MahalanobisFleet
from pipeline.detectors.fleet_tails import TailRows
from pipeline.detectors.tail_window import TailWindow, code
from pipeline.settings import Settings


def state(post: object) -> tuple[object, ...]:
    assert isinstance(post, TailCalibrator)
    window = post._calibrator
    blocks = [list(block) for block in window._blocks]
    return post.window, post.min_count, post._last, post._count, window._count, blocks


def test_rows_score_and_learn_as_calibrators_do() -> None:
    """Random rounds over windows of 1 to 100 scores (one to four blocks filling and
    dropping), ties, every ``min_count`` lane, rounds that teach only some of the scored rows,
    and rows that have not scored yet."""
    rng, dropped = random.Random(11), 0
    pool = [0.0, 1e-7, 0.1, 0.5, 0.5005, 1.0, 2.0, 7.5]
    for trial in range(120):
        window, min_count = rng.randint(1, 100), rng.choice([0, 1, 5, 30])
        tails = TailRows(window, min_count)
        objects = [TailCalibrator(window, min_count) for _ in range(4)]
        for row in range(4):
            tails.reset(row)
        for _ in range(rng.randint(1, 3 * window + 5)):
            chosen = [i for i in range(4) if rng.random() < 0.7]
            raws = [
                rng.choice(pool) if rng.random() < 0.5 else abs(rng.gauss(0, 2)) for _ in chosen
            ]
            rows = np.array(chosen, dtype=np.intp)
            got, coded, places = tails.score(rows, np.array(raws, dtype=np.float64))
            expected = [objects[i].score(r) for i, r in zip(chosen, raws, strict=True)]
            assert got == expected, trial
            assert coded.tolist() == [code(r) for r in raws]
            taught = np.array([rng.random() < 0.8 for _ in chosen], dtype=np.bool_)
            tails.learn(rows, coded, places, taught)
            for k in np.flatnonzero(taught).tolist():
                objects[chosen[k]].learn()
            assert [state(tails.post(row)) for row in range(4)] == list(map(state, objects))
        dropped += any(post._count > post._calibrator._count for post in objects)
    assert dropped > 40


def test_a_calibrator_loaded_and_made_again_is_the_same() -> None:
    post = TailCalibrator(window=40, min_count=3)
    for raw in np.random.default_rng(3).gamma(2.0, 1.0, 123).tolist():
        post.score(raw)
        post.learn()
    tails = TailRows(40, 3)
    assert tails.fits(post)
    tails.load(5, post)
    made = tails.post(5)
    assert state(made) == state(post)
    assert pickle.dumps(made) == pickle.dumps(pickle.loads(pickle.dumps(post)))
    for probe in (0.1, 1.0, 2.5, 9.0):
        assert tails.score(np.array([5]), np.array([probe]))[0] == [post.score(probe)]


@pytest.mark.parametrize(
    "post",
    [
        TailCalibrator(window=41, min_count=3),  # another window
        TailCalibrator(window=40, min_count=4),  # another min_count
        object(),
    ],
)
def test_a_calibrator_of_other_settings_does_not_fit(post: object) -> None:
    assert not TailRows(40, 3).fits(post)


def test_a_window_with_more_blocks_than_the_arrays_hold_does_not_fit() -> None:
    post = TailCalibrator(window=40, min_count=3)
    window = TailWindow.__new__(TailWindow)
    window.__setstate__((40, [TailWindow(40)._blocks[0]] * 5))
    post._calibrator = window
    assert not TailRows(40, 3).fits(post)


def test_a_fleet_scores_a_row_whose_calibrator_it_cannot_hold_as_that_calibrator() -> None:
    """A restored calibrator of another window stays an object beside the arrays' rows; the
    round gives what a fleet of calibrator objects only gives."""
    settings = Settings.load(None, model={"calibration_window": 50}).model
    mixed, objects = (MahalanobisFleet(("a", "b"), settings) for _ in range(2))
    objects.tails = None  # every post an object: the reference
    rows = [mixed.new_row() for _ in range(3)]
    assert [objects.new_row() for _ in range(3)] == rows
    for row in rows:
        objects._set_post(row, TailCalibrator(window=50))
    mixed._set_post(rows[1], TailCalibrator(window=20, min_count=2))
    objects._set_post(rows[1], TailCalibrator(window=20, min_count=2))
    assert mixed._untailed == {rows[1]} and objects._untailed == set(rows)
    rng = np.random.default_rng(0)
    for turn in range(120):
        values = rng.standard_normal((3, 2)) + [1.0, 2.0]
        got, expected = mixed.score(np.array(rows), values), objects.score(np.array(rows), values)
        assert got.scores == expected.scores, turn
        learn = np.array([turn % 3 != 0, turn % 4 != 0, True])
        mixed.learn(got, learn)
        objects.learn(expected, learn)
        assert [state(mixed.post(r)) for r in rows] == [state(objects.post(r)) for r in rows]
    learned = [post._count for post in map(mixed.post, rows) if isinstance(post, TailCalibrator)]
    assert state(mixed.post(rows[1]))[0] == 20 and min(learned) > 60 and sum(got.scores) > 0
