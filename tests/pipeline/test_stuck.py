"""Stuck sensors: a frozen live channel scores 1.0 in the default detector; quantised: never."""

from __future__ import annotations

import random

from pipeline.detectors.stuck import MIN_LEARNED, StuckWatch
from pipeline.messages import Reading
from pipeline.processor import Processor
from pipeline.settings import Settings
from producers.faults import STUCK_CHANNEL, FaultSpec
from producers.fleet import Fleet


def feed(watch: StuckWatch, rows: list[dict[str, float]]) -> list[list[str]]:
    out = []
    for x in rows:
        out.append(watch.observe(x))
        watch.learn(x)
    return out


def live(n: int, seed: int = 0) -> list[float]:
    rng = random.Random(seed)
    return [round(40.0 + rng.gauss(0, 0.2), 2) for _ in range(n)]


class TestStuckWatch:
    def test_a_frozen_live_channel_is_stuck_after_the_run(self):
        watch = StuckWatch(after=20)
        feed(watch, [{"t": v} for v in live(500)])
        flags = feed(watch, [{"t": 41.0}] * 30)
        assert flags[:20] == [[]] * 20
        assert flags[20:] == [["t"]] * 10

    def test_a_quantised_channel_that_often_repeats_is_never_stuck(self):
        watch = StuckWatch(after=20)
        steps = [{"flow": float(i // 40)} for i in range(500)]  # whole units, 40 readings each
        flags = feed(watch, steps + [{"flow": 99.0}] * 200)
        assert not any(flags)

    def test_a_run_must_be_longer_than_the_channel_ever_ended(self):
        watch = StuckWatch(after=5, factor=3)
        values = live(MIN_LEARNED * 3)
        values[149:161] = [39.0] + [40.5] * 10 + [41.0]  # a run of 9 repeats that ended
        feed(watch, [{"t": v} for v in values])
        flags = feed(watch, [{"t": 45.0}] * 30)
        assert flags.index(["t"]) == 27  # 3 x 9 repeats, not 5

    def test_nothing_is_stuck_before_enough_is_learned(self):
        watch = StuckWatch(after=5)
        assert not any(feed(watch, [{"t": v} for v in live(20)] + [{"t": 1.0}] * 50))


class TestStuckSensorInTheDefaultDetector:
    def test_the_simulated_stuck_sensor_raises_one_alert_naming_its_channel(self):
        fleet = Fleet(
            2, seed=3, interval_s=0.1, faults=[FaultSpec.parse("asset-001:stuck_sensor@120")]
        )
        processor = Processor(Settings.load(None))
        raised = []
        for record in fleet.records(fleet.ticks_for(160)):
            if isinstance(record, Reading):
                alert = processor.process_reading(record).alert
                if alert is not None and alert.state == "raised":
                    raised.append(alert)
        assert [alert.asset for alert in raised] == ["asset-001"]
        assert 120_000 < raised[0].first_ts < 130_000
        assert raised[0].channels[0] == STUCK_CHANNEL
