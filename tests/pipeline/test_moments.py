"""One Welford class serves the detectors and the per-asset model, and reads older snapshots."""

from __future__ import annotations

import pickle

import pytest

from pipeline import model
from pipeline.detectors import base
from pipeline.moments import RunningMoments


def test_the_old_names_resolve_to_the_one_class() -> None:
    assert base.RunningMoments is RunningMoments
    assert model._RunningMoments is RunningMoments


def test_pickle_round_trip_keeps_the_moments() -> None:
    moments = RunningMoments()
    for value in (4.0, 8.0, 6.0):
        moments.update(value)
    restored = pickle.loads(pickle.dumps(moments))
    assert (restored.count, restored.mean, restored.std()) == (3, 6.0, 2.0)


def test_restores_the_slot_state_older_snapshots_hold() -> None:
    moments = RunningMoments.__new__(RunningMoments)
    moments.__setstate__((None, {"count": 3, "mean": 6.0, "_m2": 8.0}))
    assert (moments.count, moments.mean, moments.std()) == (3, 6.0, pytest.approx(2.0))
