"""The batch path: the same outcomes as one message at a time and as the per-reading detectors."""

from __future__ import annotations

import bisect
import math
import pickle
import random
from collections import deque
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Histogram

from pipeline.decoding import ReadingDecoder
from pipeline.detectors.fleet import FleetSlot
from pipeline.detectors.fleet_math import python_round
from pipeline.errors import DecodeError
from pipeline.messages import Reading, decode_reading, encode
from pipeline.metrics import observe_many
from pipeline.model import ScoreCalibrator
from pipeline.processor import Outcome, Processor, Source
from pipeline.settings import Settings

CHANNELS = ("current", "flow", "pressure", "temp")

CONFIGS = [
    pytest.param({"model": {"kind": "mahalanobis"}}, id="mahalanobis"),
    pytest.param({"model": {"kind": "zscore"}}, id="zscore"),
    pytest.param(
        {
            "model": {
                "kind": "mahalanobis",
                "smooth": 1,
                "forget": 0.01,
                "calibration": "likelihood",
            }
        },
        id="mahalanobis-forget-likelihood",
    ),
    pytest.param(
        {"model": {"kind": "mahalanobis", "channels": ["pressure", "flow", "temp"]}},
        id="mahalanobis-configured-channels",
    ),
    pytest.param(
        {"model": {"kind": "zscore"}, "alerts": {"adaptive": True, "adaptive_window": 50}},
        id="zscore-adaptive",
    ),
]


def settings_for(config: dict[str, Any]) -> Settings:
    alerts = {"warmup": 60, "threshold": 0.99, "raise_after": 2, "clear_after": 5}
    alerts.update(config.get("alerts", {}))
    model = {"calibration_window": 150, **config["model"]}
    return Settings.load(None, model=model, alerts=alerts)


def stream(
    n: int, assets: int = 7, seed: int = 0, odd: bool = True, frozen_from: int | None = None
) -> list[bytes]:
    """Interleaved readings of correlated channels with faults; with ``odd``, bad messages too.

    With ``frozen_from``, asset-5's temperature sensor repeats one value from that tick on.
    """
    rng = random.Random(seed)
    ticks = [0] * assets
    out: list[bytes] = []
    for _ in range(n):
        a = rng.randrange(assets)
        ticks[a] += 1
        t = ticks[a]
        base = rng.gauss(0.0, 1.0)
        values = {
            "current": 10.0 + base,
            "flow": 5.0 + 0.5 * base + rng.gauss(0.0, 0.1),
            "pressure": 2.0 - 0.2 * base + rng.gauss(0.0, 0.05),
            "temp": 40.0 + math.sin(t / 20.0) + rng.gauss(0.0, 0.2),
        }
        if 150 <= t < 170 and a % 2 == 0:  # a fault: the correlation breaks, then a spike
            values["flow"] -= 3.0 + (t - 150) * 0.5
        if frozen_from is not None and a == 5 and t >= frozen_from:
            values["temp"] = 40.5
        if odd and a == 3 and t % 97 == 0:
            values["vibration"] = 1.0  # a channel the model has not seen (the asset leaves)
        if odd and a == 4 and t % 89 == 0:
            del values["temp"]
        out.append(encode(Reading(f"asset-{a}", 1000 * t, values, seq=t)))
        if odd and rng.random() < 0.02:
            out.append(rng.choice([b"not json", b'{"asset": "asset-1"}', out[-1], out[-2]]))
    return out


def run_batches(processor: Processor, messages: list[bytes], sizes: list[int]) -> list[Outcome]:
    outcomes: list[Outcome] = []
    start, turn = 0, 0
    while start < len(messages):
        size = sizes[turn % len(sizes)]
        chunk = messages[start : start + size]
        outcomes += processor.process_batch([(value, Source()) for value in chunk])
        start, turn = start + size, turn + 1
    return outcomes


def per_reading(settings: Settings) -> Processor:
    """A processor whose every asset keeps its own per-reading detector (no fleet)."""
    processor = Processor(settings)
    processor._batch.fleet_kind = None
    return processor


def close(a: list[Outcome], b: list[Outcome]) -> bool:
    """Equal, except scores' last bits (matrix products summed in another order)."""
    for x, y in zip(a, b, strict=True):
        if x == y:
            continue
        if x.score is None or y.score is None or x.alert != y.alert:
            return False
        if abs(x.score.score - y.score.score) > 1e-9 or x.score.anomaly != y.score.anomaly:
            return False
        shares = x.score.contributions, y.score.contributions
        if shares[0].keys() != shares[1].keys():
            return False
        if any(abs(shares[0][k] - shares[1][k]) > 1e-4 + 1e-12 for k in shares[0]):
            return False
    return True


class TestBatchPath:
    @pytest.mark.parametrize("config", CONFIGS)
    def test_any_batching_gives_the_outcomes_of_one_message_at_a_time(self, config):
        settings = settings_for(config)
        messages = stream(1500)
        one_by_one = Processor(settings)
        expected = [one_by_one.process(value) for value in messages]
        assert run_batches(Processor(settings), messages, [1000]) == expected
        assert run_batches(Processor(settings), messages, [1, 7, 250, 3]) == expected
        assert sum(o.alert is not None for o in expected) >= 2
        assert {o.dead_letter.reason for o in expected if o.dead_letter} >= {
            "malformed_json",
            "missing_field",
            "duplicate",
        }

    @pytest.mark.parametrize("config", CONFIGS)
    def test_the_fleet_scores_like_the_per_reading_detectors(self, config):
        settings = settings_for(config)
        messages = stream(1500)
        fleet = run_batches(Processor(settings), messages, [500])
        reference = run_batches(per_reading(settings), messages, [500])
        if settings.model.kind == "zscore":
            assert fleet == reference  # element-wise arithmetic only: bit for bit
        else:
            assert close(fleet, reference)
            assert sum(a == b for a, b in zip(fleet, reference, strict=True)) > 0.95 * len(fleet)

    def test_a_frozen_sensor_is_caught_alike_in_and_out_of_the_fleet(self):
        settings = settings_for({"model": {"kind": "mahalanobis", "stuck_after": 20}})
        messages = stream(2000, frozen_from=180)
        fleet = run_batches(Processor(settings), messages, [500])
        reference = run_batches(per_reading(settings), messages, [500])
        assert close(fleet, reference)
        frozen = [o.score for o in fleet if o.score and o.score.contributions == {"temp": 1.0}]
        assert frozen and {score.asset for score in frozen} == {"asset-5"}
        assert all(score.score == 1.0 for score in frozen)

    @pytest.mark.parametrize("config", CONFIGS)
    def test_snapshots_resume_identically_in_and_out_of_the_fleet(self, config):
        settings = settings_for(config)
        messages = stream(1200, odd=False)
        head, tail = messages[:700], messages[700:]
        original = Processor(settings)
        run_batches(original, head, [100])
        assert any(isinstance(s.model, FleetSlot) for s in original.assets.values())
        snapshot = pickle.dumps(original.assets)
        assert b"FleetSlot" not in snapshot  # the per-reading detectors' format
        resumed = Processor(settings)
        resumed.assets = pickle.loads(snapshot)
        assert run_batches(resumed, tail, [64]) == run_batches(original, tail, [64])
        reference = per_reading(settings)
        reference.assets = pickle.loads(snapshot)
        generic = run_batches(reference, tail, [64])
        again = Processor(settings)
        again.assets = pickle.loads(snapshot)
        assert close(run_batches(again, tail, [64]), generic)

    @pytest.mark.parametrize("config", CONFIGS[:2])
    def test_assets_move_in_and_out_of_the_fleet_without_a_jump(self, config):
        from pipeline.messages import decode_reading as decode

        settings = settings_for(config)
        messages = stream(900, odd=False)
        mixed = Processor(settings)
        outcomes = []
        for i in range(0, len(messages), 30):  # batches, then one reading at a time, in turns
            chunk = messages[i : i + 30]
            if i // 30 % 2:
                outcomes += [mixed.process_reading(decode(value)) for value in chunk]
            else:
                outcomes += mixed.process_batch([(value, Source()) for value in chunk])
        assert close(outcomes, run_batches(per_reading(settings), messages, [30]))

    def test_dropped_assets_free_their_rows(self):
        processor = Processor(settings_for({"model": {"kind": "zscore"}}))
        messages = stream(300, odd=False)
        run_batches(processor, messages, [100])
        for asset in list(processor.assets)[:3]:
            del processor.assets[asset]
        run_batches(processor, stream(50, odd=False, seed=1), [50])
        fleet = next(iter(processor._batch.fleets.values()))
        assert len(processor._batch._members) == len(processor.assets)
        assert fleet.rows._free == [] or len(fleet.rows._free) <= 3  # type: ignore[attr-defined]


class _ListCalibrator:
    """The calibrator as it was: a deque and a sorted list of Python floats."""

    def __init__(self, window: int) -> None:
        self.window = window
        self._recent: deque[float] = deque()
        self._sorted: list[float] = []

    def learn_one(self, raw: float) -> None:
        self._recent.append(raw)
        bisect.insort(self._sorted, raw)
        if len(self._recent) > self.window:
            del self._sorted[bisect.bisect_left(self._sorted, self._recent.popleft())]

    def tail_probability(self, raw: float) -> float:
        return bisect.bisect_left(self._sorted, raw) / len(self._sorted) if self._sorted else 0.0


class TestScoreCalibrator:
    @hypothesis_settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
    @given(
        st.integers(min_value=1, max_value=20),
        st.lists(st.sampled_from([0.0, -0.0, 0.5, 1.0, 2.5, 3.0, 1e-9]), max_size=120),
    )
    def test_ranks_like_a_deque_and_a_sorted_list(self, window, raws):
        compact, lists = ScoreCalibrator(window), _ListCalibrator(window)
        for raw in raws:
            assert compact.tail_probability(raw) == lists.tail_probability(raw)
            compact.learn_one(raw)
            lists.learn_one(raw)
            assert list(compact.recent()) == list(lists._recent)
        restored = pickle.loads(pickle.dumps(compact))
        assert list(restored._sorted) == list(compact._sorted)
        assert list(restored.recent()) == list(compact.recent())

    def test_a_calibrator_pickled_as_deque_and_list_still_loads(self):
        old = ScoreCalibrator.__new__(ScoreCalibrator)
        old.__setstate__(
            {"window": 3, "_recent": deque([3.0, 1.0, 2.0]), "_sorted": [1.0, 2.0, 3.0]}
        )
        old.learn_one(0.5)
        assert list(old.recent()) == [1.0, 2.0, 0.5] and list(old._sorted) == [0.5, 1.0, 2.0]


MESSAGES = [
    b'{"asset":"a","ts":1,"values":{"x":1}}',
    b'{"asset":"a","ts":1.5,"values":{"x":1}}',
    b'{"asset":"a","ts":"2024-01-01T00:00:00Z","values":{"x":1}}',
    b'{"asset":"a","ts":-1,"values":{"x":1}}',
    b'{"asset":"a","ts":12345678901234567890123,"values":{"x":1}}',
    b'{"asset":"a","ts":1,"values":{"x":1},"seq":18446744073709551616}',
    b'{"asset":"a","ts":1,"values":{"x":1},"seq":-2}',
    b'{"asset":"a","ts":1,"values":{"x":1e999}}',
    b'{"asset":"a","ts":1,"values":{"x":NaN}}',
    b'{"asset":"a","ts":1,"values":{"x":true}}',
    b'{"asset":"a","ts":1,"values":{"":1}}',
    b'{"asset":"a\\u0000","ts":1,"values":{"x":1}}',
    b'{"asset":"","ts":1,"values":{"x":1}}',
    b'{"asset":"' + b"a" * 129 + b'","ts":1,"values":{"x":1}}',
    b'{"asset":"\xff","ts":1,"values":{"x":1}}',
    b'{"asset":"a","ts":1,"values":[1]}',
    b'{"asset":"a","ts":1}',
    b'{"asset":"a","ts":1,"values":{"x":1},"line":3}',
    b'{"asset":"a","ts":1,"values":{"x":1},"extra":{"y":[1,2]}}',
    b'{"asset":"a","ts":1,"values":{"x":1, "x":2}}',
    b"[1, 2]",
    b"not json",
    b"",
]


def decoded(decode, value):
    try:
        return decode(value)
    except DecodeError as exc:
        return (exc.reason, exc.message)


class TestReadingDecoder:
    @pytest.mark.parametrize("value", MESSAGES)
    def test_accepts_and_refuses_exactly_like_decode_reading(self, value):
        assert decoded(ReadingDecoder().decode, value) == decoded(decode_reading, value)

    @hypothesis_settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
    @given(
        st.dictionaries(
            st.sampled_from(["asset", "ts", "values", "seq", "line", "x"]),
            st.one_of(
                st.integers(min_value=-(2**65), max_value=2**65),
                st.floats(),
                st.text(max_size=5),
                st.dictionaries(st.text(max_size=3), st.one_of(st.floats(), st.integers())),
                st.none(),
                st.booleans(),
            ),
        )
    )
    def test_any_object_decodes_like_decode_reading(self, obj):
        import json

        value = json.dumps(obj, allow_nan=True).encode()
        assert decoded(ReadingDecoder().decode, value) == decoded(decode_reading, value)

    def test_oversized_and_null_messages_keep_their_reasons(self):
        decoder = ReadingDecoder(max_bytes=64)
        assert decoded(decoder.decode, None)[0] == "missing_field"
        assert (
            decoded(decoder.decode, b'{"asset":"a","ts":1,"values":{"x":1}}' + b" " * 64)[0]
            == "oversized"
        )


@hypothesis_settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(st.floats(min_value=-1e6, max_value=1e6), min_size=1, max_size=50))
def test_python_round_rounds_like_python(values):
    array = np.array(values)
    for digits in (4, 6):
        assert python_round(array, digits).tolist() == [round(v, digits) for v in values]


def test_python_round_handles_halves_like_python():
    values = [0.5, 1.5, 2.675, 0.00005, 0.00015, 0.12345, 1e-7, 0.9999995]
    for digits in (4, 6):
        assert python_round(np.array(values), digits).tolist() == [round(v, digits) for v in values]


def test_the_service_score_encoder_writes_the_bytes_of_encode():
    from pipeline.messages import Score, encode_score

    rng = random.Random(3)
    for i in range(2000):
        shares = {f"ch{j}": round(rng.random() ** rng.randint(1, 9), 4) for j in range(8)}
        score = round(rng.random() ** rng.randint(1, 30), 6)
        supervised = [None, round(rng.random(), 4)]
        record = Score(
            f"a-{i}",
            i,
            score,
            0.999,
            i % 2 == 0,
            "mahalanobis(smooth=5,tail)",
            shares,
            fault_probability=supervised[i % 3 == 0],
            rul_hours=supervised[i % 5 == 0],
        )
        assert encode_score(record) == encode(record)


def test_observe_many_equals_observing_one_by_one():
    values = [0.0, 0.05, 0.07, 1.0, 3.3, 86400.0, 1e9]
    one, many = CollectorRegistry(), CollectorRegistry()
    h1 = Histogram("lag", "", buckets=(0.05, 0.1, 1, 10), registry=one)
    h2 = Histogram("lag", "", buckets=(0.05, 0.1, 1, 10), registry=many)
    for value in values:
        h1.observe(value)
    observe_many(h2, np.array(values))

    def samples(registry):
        return [
            (s.name, s.labels, s.value)
            for m in registry.collect()
            for s in m.samples
            if not s.name.endswith("_created")
        ]

    assert samples(one) == samples(many)
