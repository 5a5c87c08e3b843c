"""Hostile input: 10,000 generated bad messages among 10,000 valid readings.

Every bad message must land in the dead-letter topic with a reason and its source offset,
every valid reading must be scored exactly once, and the one service process must survive.
"""

from __future__ import annotations

import functools
import json
import random
import uuid

import orjson
import pytest
from confluent_kafka import KafkaError, Message, Producer
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from pipeline.errors import DecodeError
from pipeline.messages import Reading, decode_reading, encode
from tests.integration.eos_io import metric, wait_caught_up, wait_ready, write_service_config
from tests.integration.kafka_io import ServiceProcess, read_all

pytestmark = pytest.mark.integration

ASSETS = [f"press-{i}" for i in range(4)]
VALID = 10_000
HOSTILE = 10_000
MAX_BYTES = 64 * 1024
REASONS = {
    b"malformed_json",
    b"missing_field",
    b"wrong_type",
    b"non_finite",
    b"out_of_range",
    b"oversized",
    b"bad_timestamp",
    b"key_mismatch",
}


def _decodes(value: bytes | None) -> bool:
    try:
        decode_reading(value, MAX_BYTES)
    except DecodeError:
        return False
    return True


_json_any = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
_junk_reading = st.fixed_dictionaries(
    {},
    optional={
        "asset": st.one_of(st.sampled_from(ASSETS), _json_any),
        "ts": st.one_of(st.integers(min_value=-(2**70), max_value=2**70), _json_any),
        "values": st.one_of(
            st.dictionaries(st.text(max_size=10), st.one_of(st.floats(), _json_any)), _json_any
        ),
        "seq": _json_any,
    },
)


def _dumps(value: object) -> bytes:
    """JSON as a careless producer writes it: big integers, NaN and Infinity included."""
    return json.dumps(value).encode()


_hostile_value = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=200).map(str.encode),
    _junk_reading.map(_dumps),
    _json_any.map(_dumps),
    st.sampled_from(
        [
            b'{"asset": "press-1", "ts": 5, "values": {"vib": NaN}}',
            b'{"asset": "press-1", "ts": 5, "values": {"vib": Infinity}}',
            b"[" * 5000,
            b'{"asset": "press-1", "ts": "yesterday", "values": {"vib": 1}}',
            b"\xff\xfe\x00\x00",
        ]
    ),
    st.integers(MAX_BYTES + 1, MAX_BYTES + 2000).map(
        lambda n: b'{"asset": "press-1", "ts": 1, "values": {"v": 1.0}, "pad": "' + b"x" * n + b'"}'
    ),
).filter(lambda value: not _decodes(value))
_mismatched_key = st.tuples(st.sampled_from(ASSETS), st.integers(0, 10**6)).map(
    lambda a: (
        b"intruder-" + a[0].encode(),
        encode(Reading(a[0], 1_700_000_000_000 + a[1], {"vib": 1.0})),
    )
)
_hostile = st.one_of(
    st.tuples(st.sampled_from([a.encode() for a in ASSETS]) | st.none(), _hostile_value),
    _mismatched_key,
)


def hostile_messages(count: int) -> list[tuple[bytes | None, bytes]]:
    """``count`` generated (key, value) pairs, each of which the service must dead-letter."""
    found: list[tuple[bytes | None, bytes]] = []

    @settings(
        max_examples=count // 50 + 1,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(st.lists(_hostile, min_size=50, max_size=50))
    def collect(batch: list[tuple[bytes | None, bytes]]) -> None:
        found.extend(batch)

    while len(found) < count:
        collect()
    return found[:count]


def test_hostile_input_is_dead_lettered_and_valid_input_scored(
    kafka_broker, topic_settings, tmp_path
):
    bad = hostile_messages(HOSTILE)
    rng = random.Random(3)
    valid = [
        Reading(ASSETS[i % 4], 1_700_000_000_000 + i * 10, {"vib": 1.0 + rng.random()})
        for i in range(VALID)
    ]
    plan: list[tuple[bytes | None, bytes, bool]] = [
        (r.asset.encode(), encode(r), True) for r in valid
    ]
    for key, value in bad:
        plan.insert(rng.randrange(len(plan) + 1), (key, value, False))

    sent: dict[tuple[int, int], bool] = {}

    def delivered(error: KafkaError | None, message: Message, is_valid: bool) -> None:
        assert error is None, error
        sent[(message.partition() or 0, message.offset() or 0)] = is_valid

    producer = Producer(
        {**kafka_broker.config, "enable.idempotence": True, "message.max.bytes": 2_000_000}
    )
    for key, value, is_valid in plan:
        producer.produce(
            topic_settings.readings,
            value=value,
            key=key,
            on_delivery=functools.partial(delivered, is_valid=is_valid),
        )
        producer.poll(0)
    assert producer.flush(60) == 0
    assert len(sent) == VALID + HOSTILE

    group = f"hostile-{uuid.uuid4().hex[:8]}"
    config = write_service_config(
        tmp_path / "hostile.toml", kafka_broker.bootstrap, topic_settings, group, "hostile"
    )
    service = ServiceProcess(config)
    try:
        url = wait_ready(service)
        wait_caught_up(kafka_broker.bootstrap, group, topic_settings)
        assert service.alive(), service.stderr
        assert metric(url, "linewatch_scores_total") == VALID  # one process did it all
    finally:
        assert service.stop() == 0, service.stderr

    letters = read_all(kafka_broker.bootstrap, topic_settings.deadletter, HOSTILE)
    scores = read_all(kafka_broker.bootstrap, topic_settings.scores, VALID)
    bad_offsets = {where for where, ok in sent.items() if not ok}
    lettered = set()
    for letter in letters:
        headers = dict(letter.headers() or [])
        assert headers["error.reason"] in REASONS, headers
        assert headers["error.message"]
        assert headers["source.topic"] == topic_settings.readings.encode()
        lettered.add((int(headers["source.partition"]), int(headers["source.offset"])))
    assert len(letters) == HOSTILE
    assert lettered == bad_offsets
    scored = sorted((s["asset"], s["ts"]) for s in (orjson.loads(m.value() or b"") for m in scores))
    assert scored == sorted((r.asset, r.ts) for r in valid)
