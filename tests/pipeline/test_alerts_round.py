"""evaluate_round: a batch's alert decisions equal AlertPolicy.evaluate one reading at a time."""

from __future__ import annotations

import copy

from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from pipeline.alerts import AlertPolicy, evaluate_round
from pipeline.settings import AlertSettings

SETTINGS = st.builds(
    AlertSettings,
    threshold=st.sampled_from([0.5, 0.9]),
    high_threshold=st.just(0.95),
    warmup=st.integers(0, 5),
    raise_after=st.integers(1, 3),
    clear_after=st.integers(1, 3),
    adaptive=st.booleans(),
    adaptive_window=st.just(120),
)
SCORES = st.lists(st.sampled_from([0.0, 0.2, 0.5, 0.89, 0.9, 0.93, 0.96, 1.0]), max_size=300)


def top(i: int) -> list[str]:
    return [f"ch{i % 3}", "flow"]


@hypothesis_settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(SETTINGS, SCORES, st.integers(1, 4), st.integers(1, 50))
def test_a_round_decides_like_one_reading_at_a_time(settings, scores, assets, size):
    one = [AlertPolicy(f"a{k}", settings) for k in range(assets)]
    batched = copy.deepcopy(one)
    for start in range(0, len(scores), size):
        chunk = range(start, min(start + size, len(scores)))
        who = [i % assets for i in chunk]
        expected_flags, expected = [], []
        for i, k in zip(chunk, who, strict=True):
            flag = one[k].is_anomalous(scores[i])
            expected_flags.append(flag)
            expected.append(one[k].evaluate(i, scores[i], top(i - start) if flag else (), "m"))
        flags, alerts = evaluate_round(
            [batched[k] for k in who], list(chunk), [scores[i] for i in chunk], top, "m"
        )
        assert (flags, alerts) == (expected_flags, expected)
        assert [vars_of(p) for p in batched] == [vars_of(p) for p in one]


def vars_of(policy: AlertPolicy) -> tuple[object, ...]:
    return (
        policy.seen,
        policy.active,
        policy._anomalous_run,
        policy._normal_run,
        policy._run_first_ts,
        policy._run_peak,
        list(policy._recent),
        policy._sorted,
    )


def test_a_long_fault_raises_and_clears_once():
    settings = AlertSettings(threshold=0.9, warmup=2, raise_after=2, clear_after=2)
    policy = AlertPolicy("a", settings)
    scores = [0.1] * 5 + [0.99] * 10 + [0.1] * 5
    flags, alerts = evaluate_round([policy] * 20, list(range(20)), scores, top, "m")
    assert [a.state for a in alerts if a] == ["raised", "cleared"]
    assert flags == [False] * 5 + [True] * 10 + [False] * 5
