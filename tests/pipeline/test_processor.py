"""Processor: the data path without Kafka."""

from __future__ import annotations

import math
import random

import pytest

from pipeline.messages import Reading, encode
from pipeline.processor import Processor, Source
from pipeline.settings import Settings


@pytest.fixture
def processor_factory():
    def make(**overrides: object) -> Processor:
        return Processor(Settings.load(None, **overrides))

    return make


def reading(asset: str, ts: int, seq: int | None = None, **values: float) -> bytes:
    return encode(Reading(asset, ts, values or {"vib": 1.0, "temp": 40.0}, seq=seq))


class TestProcessor:
    def test_every_valid_reading_gets_exactly_one_score(self, processor_factory):
        processor = processor_factory()
        outcomes = [processor.process(reading("a", ts, vib=float(ts % 7))) for ts in range(300)]
        assert all(o.score is not None and o.dead_letter is None for o in outcomes)
        assert all(0.0 <= o.score.score <= 1.0 for o in outcomes if o.score)

    def test_bad_bytes_become_a_dead_letter_with_reason_and_source(self, processor_factory):
        source = Source("sensor.readings", 2, 41, b"a")
        outcome = processor_factory().process(b'{"asset": "a"}', source)
        assert outcome.score is None
        assert outcome.dead_letter is not None
        assert outcome.dead_letter.reason == "missing_field"
        assert outcome.dead_letter.source == source
        assert outcome.dead_letter.value == b'{"asset": "a"}'

    def test_duplicate_and_out_of_order_readings_are_dead_lettered(self, processor_factory):
        processor = processor_factory()
        assert processor.process(reading("a", 100, seq=5)).score is not None
        assert processor.process(reading("a", 100, seq=5)).dead_letter.reason == "duplicate"
        assert processor.process(reading("a", 90, seq=4)).dead_letter.reason == "out_of_order"
        assert processor.process(reading("a", 50)).dead_letter.reason == "out_of_order"
        assert processor.process(reading("a", 101, seq=6)).score is not None

    def test_unknown_assets_are_refused_when_assets_are_configured(self, processor_factory):
        processor = processor_factory(serve={"known_assets": ["a"]})
        assert processor.process(reading("a", 1)).score is not None
        assert processor.process(reading("b", 1)).dead_letter.reason == "unknown_asset"
        assert "b" not in processor.assets

    def test_key_that_differs_from_the_asset_is_refused(self, processor_factory):
        outcome = processor_factory().process(reading("a", 1), Source(key=b"b"))
        assert outcome.dead_letter is not None and outcome.dead_letter.reason == "key_mismatch"

    def test_reading_without_model_channels_is_dead_lettered(self, processor_factory):
        processor = processor_factory(model={"channels": ["vib"]})
        outcome = processor.process(encode(Reading("a", 1, {"other": 1.0})))
        assert outcome.dead_letter is not None and outcome.dead_letter.reason == "missing_field"

    def test_a_sustained_fault_raises_one_alert_and_names_the_channel(self, processor_factory):
        processor = processor_factory(alerts={"warmup": 300})
        rng = random.Random(1)
        alerts = []
        for ts in range(1500):
            vib = 1.0 + rng.gauss(0, 0.05) + (0 if ts < 1000 else 0.02 * (ts - 1000))
            temp = 40.0 + rng.gauss(0, 0.2)
            outcome = processor.process(reading("a", ts, vib=vib, temp=temp))
            if outcome.alert is not None:
                alerts.append(outcome.alert)
        assert [a.state for a in alerts] == ["raised"]
        assert alerts[0].first_ts >= 1000
        assert alerts[0].channels[0] == "vib"

    def test_same_input_gives_identical_scores(self, processor_factory):
        rng = random.Random(3)
        messages = [reading("a", ts, vib=math.sin(ts / 10) + rng.random()) for ts in range(400)]
        first = [processor_factory().process(m) for m in messages[:1]]
        runs = []
        for _ in range(2):
            processor = processor_factory()
            runs.append([processor.process(m).score for m in messages])
        assert runs[0] == runs[1]
        assert first[0].score == runs[0][0]
