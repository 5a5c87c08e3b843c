"""Drift beyond the operating condition: quiet on a healthy machine, loud on slow wear."""

from __future__ import annotations

import math
import pickle
import random

from pipeline.supervised.condition import ConditionDrift

LAG_S = 45.0


class Machine:
    """Load that wanders slowly, a current that follows it, a temperature that lags it."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.load = 70.0
        self.lagged = 70.0

    def reading(self, wear_sd: float = 0.0) -> dict[str, float]:
        self.load += 0.02 * (70.0 - self.load) + self.rng.gauss(0.0, 0.8)
        self.lagged += (1.0 - math.exp(-1.0 / LAG_S)) * (self.load - self.lagged)
        return {
            "load_pct": self.load * (1 + 0.005 * self.rng.gauss(0.0, 1.0)),
            "current": (20.0 + 0.3 * self.load) * (1 + 0.015 * self.rng.gauss(0.0, 1.0))
            + wear_sd * 0.015 * 41.0,
            "temp": 25.0 + 0.35 * self.lagged + 0.25 * self.rng.gauss(0.0, 1.0),
        }


def run(drift: ConditionDrift, machine: Machine, seconds: range, wear_sd: float = 0.0) -> list:
    return [drift.update(s * 1000, machine.reading(wear_sd), learn=True) for s in seconds]


def test_a_healthy_machine_drifts_like_standard_noise_whatever_its_load():
    drift, machine = ConditionDrift("load_pct"), Machine(1)
    values = run(drift, machine, range(4000))[1000:]
    for channel in ("current", "temp"):
        series = [x[channel] for x in values]
        assert max(abs(v) for v in series) < 8.0
        assert 0.3 < math.sqrt(sum(v * v for v in series) / len(series)) < 2.5
    assert all("load_pct" not in x for x in values)


def test_wear_of_half_a_noise_sd_stands_out_and_a_repair_forgets_it():
    drift, machine = ConditionDrift("load_pct"), Machine(2)
    run(drift, machine, range(2000))
    worn = run(drift, machine, range(2000, 2400), wear_sd=0.5)
    assert worn[-1]["current"] > 4.0 and abs(worn[-1]["temp"]) < 4.0
    drift.restart(2400_000)
    after = run(drift, machine, range(2400, 3200), wear_sd=0.5)  # the new normal
    assert all(x["current"] == 0.0 for x in after[:300])  # settling, then the new baseline
    assert abs(after[-1]["current"]) < 5.0


def test_its_state_survives_a_snapshot_bit_for_bit():
    drift, machine = ConditionDrift("load_pct"), Machine(3)
    run(drift, machine, range(1500))
    copy = pickle.loads(pickle.dumps(drift))
    twin = Machine(4)
    for second in range(1500, 1700):
        values = twin.reading()
        assert copy.update(second * 1000, values, True) == drift.update(second * 1000, values, True)


def test_without_the_condition_channel_every_drift_is_zero():
    drift = ConditionDrift("load_pct")
    assert drift.update(0, {"current": 1.0, "load_pct": math.nan}, True) == {"current": 0.0}
    assert drift.update(1000, {"current": 1.0}, True) == {"current": 0.0}


def test_a_channel_that_appears_late_is_fitted_on_its_own_readings():
    """The shared regressor sums hold readings the late channel was absent from: fitted on
    them its coefficients came out about halved, and its drift hit the clip (30)."""
    drift, machine = ConditionDrift("load_pct"), Machine(4)
    for s in range(2000):
        x = machine.reading()
        drift.update(s * 1000, {"load_pct": x["load_pct"], "current": x["current"]}, True)
    late = run(drift, machine, range(2000, 5500))
    assert all(x["temp"] == 0.0 for x in late[:1199])  # its own fit first, then its baseline
    series = [x["temp"] for x in late[2000:]]
    assert max(abs(v) for v in series) < 8.0
    assert 0.3 < math.sqrt(sum(v * v for v in series) / len(series)) < 2.5
