"""Page's CUSUM: in control it crosses about as often as designed; a small step it finds."""

from __future__ import annotations

import pickle

import numpy as np

from pipeline.messages import Label, Reading, Score
from pipeline.settings import Settings
from pipeline.supervised.condition import ConditionDrift
from pipeline.supervised.cusum import (
    Crossings,
    DriftRecord,
    in_control_arl,
    page_step,
    record_of,
)
from pipeline.supervised.supervisor import Supervisor
from tests.pipeline.supervised.test_condition import Machine, run


def run_lengths(k: float, h: float, shift: float, runs: int, seed: int) -> np.ndarray:
    """Readings until a one-sided CUSUM crosses ``h``, on N(shift, 1), ``runs`` at once."""
    rng = np.random.default_rng(seed)
    s, lengths, n = np.zeros(runs), np.zeros(runs), 0
    while (lengths == 0).any():
        n += 1
        s = np.maximum(0.0, s + rng.standard_normal(runs) + shift - k)
        lengths[(s >= h) & (lengths == 0)] = n
    return lengths


def test_in_control_run_length_is_about_as_designed_on_white_noise():
    k, h = 0.5, 5.0
    designed = in_control_arl(k, h)  # Siegmund: about 940 readings
    mean = run_lengths(k, h, 0.0, runs=400, seed=0).mean()
    assert 0.8 * designed < mean < 1.25 * designed


def test_a_step_of_twice_k_is_found_in_about_h_over_the_excess():
    k, h = 0.35, 20.0
    delays = run_lengths(k, h, 0.7, runs=400, seed=1)  # expected (h + 1.166) / (0.7 - k)
    assert 45 < np.median(delays) < 80
    assert in_control_arl(k, h) > 1000 * np.median(delays)


def test_page_step_is_zero_floored():
    assert page_step(0.0, -5.0, 0.35) == 0.0
    assert page_step(1.0, 1.0, 0.35) == 1.65


def test_a_statistic_is_trusted_once_it_warned_with_few_false_crossings():
    record, crossings = DriftRecord(), Crossings()
    for failure in (1_000_000, 2_000_000):
        crossings.see(failure - 300_000, ["flow-", "speed+"])
        crossings.see(failure - 100_000, ["flow-"])  # only the first crossing counts
        crossings.on_failure(failure, 600_000, record)
        crossings.clear()  # the repair
    assert record.counts == {"flow-": [2, 0], "speed+": [2, 0]}
    for start in (3_000_000, 4_000_000):  # speed crosses in healthy running too
        crossings.see(start, ["speed+"])
        crossings.expire(start + 600_001, 600_000, record)
        crossings.clear()
    assert crossings.first == {}
    assert record.trusted("flow-", min_warnings=2, false_ratio=0.25)
    assert not record.trusted("speed+", min_warnings=2, false_ratio=0.25)
    assert not record.trusted("flow-", min_warnings=3, false_ratio=0.25)


def test_an_old_crossing_before_a_failure_is_false_and_a_repair_forgets_crossings():
    record, crossings = DriftRecord(), Crossings()
    crossings.see(0, ["temp-"])
    crossings.on_failure(700_000, 600_000, record)
    assert record.counts == {"temp-": [0, 1]}
    crossings.see(800_000, ["temp-"])
    crossings.clear()
    assert crossings.first == {}


def test_a_long_drift_is_one_crossing_until_the_repair():
    """A CUSUM stays above h once it crossed: one drift longer than the horizon is one
    false crossing (not one per horizon), and it does not come back as a warning."""
    record, crossings = DriftRecord(), Crossings()
    for ts in range(0, 700_001, 1_000):
        crossings.see(ts, ["current+"])
        crossings.expire(ts, 600_000, record)
    crossings.on_failure(700_000, 600_000, record)
    assert record.counts == {"current+": [0, 1]}
    crossings.clear()
    crossings.see(800_000, ["current+"])
    assert crossings.first == {"current+": 800_000}


def test_crossings_after_the_failure_belong_to_the_stopped_machine():
    """Seen while the failure's label was on its way: neither warnings nor false."""
    record, crossings = DriftRecord(), Crossings()
    crossings.see(900_000, ["flow-"])
    crossings.see(1_010_000, ["temp-", "current-"])
    crossings.on_failure(1_000_000, 600_000, record)
    assert record.counts == {"flow-": [1, 0]}
    assert crossings.first == {}


def test_models_of_before_the_record_get_one():
    class Old:
        pass

    models = Old()
    assert record_of(models) is record_of(models)


def largest_cusum(drift: ConditionDrift) -> float:
    return max((max(pair) for pair in drift.cusums().values()), default=0.0)


def test_the_condition_drifts_cusums_stay_low_when_healthy_and_cross_on_wear():
    drift, machine = ConditionDrift("load_pct", k=0.35), Machine(4)
    run(drift, machine, range(1500))
    highest = 0.0
    for second in range(1500, 5000):  # about 3,500 readings of healthy running
        drift.update(second * 1000, machine.reading(), learn=True)
        highest = max(highest, largest_cusum(drift))
    assert highest < 20.0 and drift.crossed(20.0) == []
    for second in range(5000, 5300):
        drift.update(second * 1000, machine.reading(wear_sd=0.7), learn=True)
    assert drift.crossed(20.0) == ["current+"]
    restored = pickle.loads(pickle.dumps(drift))
    assert restored.crossed(20.0) == ["current+"]
    drift.restart(5_300_000)
    assert largest_cusum(drift) == 0.0


def test_the_supervisor_raises_a_fault_alert_once_a_statistic_warned_twice():
    """Three runs to failure, each after 600 s of wear growing to 1 noise sd: the first two
    teach that ``current+`` precedes failures; in the third it raises the fault alert, well
    before the failure, and none in healthy running. The detector's anomalies of each
    restart (its first 30 s) come before the CUSUMs run and do not stop the counting. A copy
    restored from a pickle before the third run (the assets' and the types' state, as in
    the snapshots) raises the same alert."""
    settings = Settings.load(
        None,
        supervised={
            "enabled": True, "horizon_s": 600, "label_delay_s": 0, "sample_interval_s": 1,
            "condition_channel": "load_pct",
            "alerts": {"on_probability": False, "raise_after": 1},
            "cusum": {"enabled": True, "min_warnings": 2},
        },
    )  # fmt: skip
    supervisor, machine, second = Supervisor(settings), Machine(5), 0
    raised: dict[int, list[tuple[int, str]]] = {}
    supervisors = [supervisor]
    for healthy in (1500, 900, 900):
        for t in range(second, second + healthy + 600):
            wear = max(0.0, (t - second - healthy) / 600)
            reading = Reading("a", t * 1000, machine.reading(wear_sd=wear))
            score = Score("a", t * 1000, 0.1, 0.5, t - second < 30, "m")
            for k, each in enumerate(supervisors):
                _, alert = each.attach(reading, score)
                if alert is not None and alert.state == "raised":
                    raised.setdefault(k, []).append((t - second - healthy, alert.reason))
        second += healthy + 600
        for each in supervisors:
            each.on_label(Label("a", second * 1000, "failure"))
        second += 300
        for each in supervisors:
            each.on_label(Label("a", second * 1000, "maintenance"))
        if second > 3000 and len(supervisors) == 1:  # before the third run: a restored copy
            copy = Supervisor(settings)
            copy.assets, copy.models = pickle.loads(
                pickle.dumps((supervisor.assets, supervisor.models))
            )
            supervisors.append(copy)
    assert record_of(supervisor.models["default"]).counts["current+"][0] == 3
    assert len(raised[0]) == 1 and raised[0][0][1].startswith("drift (current+)")
    assert 150 < raised[0][0][0] < 600  # seconds into the wear: > 1 min before the failure
    assert raised[1] == raised[0]


def test_crossings_after_the_detector_alarmed_are_not_counted_until_the_repair():
    crossings = Crossings()
    crossings.see(1_000, ["flow-"])
    for anomaly in (True, True, False, True, True, True):
        crossings.detector(anomaly, raise_after=3)
    crossings.see(2_000, ["speed+"])  # the fault is under way: its symptom, not a warning
    assert crossings.first == {"flow-": 1_000} and crossings.detected
    crossings.clear()
    crossings.see(3_000, ["speed+"])
    assert crossings.first == {"speed+": 3_000}
