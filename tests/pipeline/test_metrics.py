"""ServiceMetrics, AssetSeries and ConsumerLag against a fresh registry each test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import TopicPartition
from prometheus_client import CollectorRegistry, generate_latest

from pipeline.asset_metrics import AssetSeries, _Latest, _Tracked
from pipeline.consumer_lag import ConsumerLag
from pipeline.messages import Alert, Reading, Score
from pipeline.metrics import ServiceMetrics
from pipeline.partitions import PartitionStates
from pipeline.processor import DeadLetter, Outcome, Source
from pipeline.settings import Settings


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def scored(asset: str, ts: int, score: float = 0.5, alert: Alert | None = None) -> Outcome:
    reading = Reading(asset, ts, {"temp_c": 40.0 + ts, "vib_mm_s": 1.5})
    result = Score(asset, ts, score, 0.9, score >= 0.9, "hst", {"temp_c": 1.0})
    return Outcome(score=result, alert=alert, reading=reading)


def alert(asset: str, state: str, severity: str = "high") -> Alert:
    return Alert(
        alert_id=f"{asset}-1",
        asset=asset,
        state=state,  # type: ignore[arg-type]
        severity=severity,  # type: ignore[arg-type]
        ts=2_000,
        first_ts=1_000,
        score=0.99,
        channels=["temp_c"],
        model="hst",
        reason="test",
    )


class TestServiceMetrics:
    def test_every_outcome_and_severity_series_exists_before_any_message(self, registry):
        ServiceMetrics(registry)
        for outcome in ("valid", "invalid"):
            assert sample(registry, "linewatch_readings_total", outcome=outcome) == 0
        for state in ("raised", "cleared"):
            for severity in ("low", "high"):
                assert (
                    sample(registry, "linewatch_alerts_total", state=state, severity=severity) == 0
                )
        assert sample(registry, "linewatch_drift_events_total") == 0
        assert sample(registry, "linewatch_snapshot_bytes_count") == 0

    def test_scored_reading_sets_score_threshold_channels_and_event_lag(self, registry):
        metrics = ServiceMetrics(registry)
        metrics.observe_outcome(scored("press-1", ts=1_000, score=0.7), now_s=3.5)
        assert sample(registry, "linewatch_scores_total") == 1
        assert sample(registry, "linewatch_asset_score", asset="press-1") == 0.7
        assert sample(registry, "linewatch_asset_threshold", asset="press-1") == 0.9
        assert sample(registry, "linewatch_asset_alarm", asset="press-1") == 0
        assert (
            sample(registry, "linewatch_asset_channel_value", asset="press-1", channel="temp_c")
            == 1_040.0
        )
        assert sample(registry, "linewatch_event_lag_seconds_sum") == pytest.approx(2.5)
        assert sample(registry, "linewatch_event_lag_seconds_bucket", le="2.5") == 1
        assert sample(registry, "linewatch_event_lag_seconds_bucket", le="1.0") == 0

    def test_reading_from_the_future_counts_as_zero_lag(self, registry):
        metrics = ServiceMetrics(registry)
        metrics.observe_outcome(scored("press-1", ts=10_000), now_s=1.0)
        assert sample(registry, "linewatch_event_lag_seconds_sum") == 0

    def test_dead_letter_counts_invalid_by_reason(self, registry):
        metrics = ServiceMetrics(registry)
        letter = DeadLetter(b"x", Source(), "malformed_json", "bad")
        metrics.observe_outcome(Outcome(dead_letter=letter))
        assert sample(registry, "linewatch_readings_total", outcome="invalid") == 1
        assert sample(registry, "linewatch_readings_total", outcome="valid") == 0
        assert sample(registry, "linewatch_deadletters_total", reason="malformed_json") == 1

    def test_raise_then_clear_moves_active_and_alarm_gauges(self, registry):
        metrics = ServiceMetrics(registry)
        metrics.observe_outcome(scored("press-1", 1_000, 0.99, alert("press-1", "raised")))
        assert sample(registry, "linewatch_alerts_active") == 1
        assert sample(registry, "linewatch_asset_alarm", asset="press-1") == 2
        metrics.observe_outcome(scored("press-1", 2_000, 0.1, alert("press-1", "cleared")))
        assert sample(registry, "linewatch_alerts_active") == 0
        assert sample(registry, "linewatch_asset_alarm", asset="press-1") == 0
        assert sample(registry, "linewatch_alerts_total", state="raised", severity="high") == 1
        assert sample(registry, "linewatch_alerts_total", state="cleared", severity="high") == 1

    def test_batch_and_drift(self, registry):
        metrics = ServiceMetrics(registry)
        metrics.observe_batch(0.02, models=7)
        metrics.observe_drift("press-1")
        assert sample(registry, "linewatch_models") == 7
        assert sample(registry, "linewatch_process_seconds_count") == 1
        assert sample(registry, "linewatch_drift_events_total") == 1


class TestAssetSeries:
    def test_cap_holds_and_later_assets_get_no_series(self, registry):
        series = AssetSeries(registry, max_assets=2)
        for asset in ("a", "b", "c"):
            series.observe(asset, 0.1, 0.9, {"t": 1.0})
        assert series.tracked == ["a", "b"]
        assert sample(registry, "linewatch_asset_score", asset="c") is None

    def test_channels_per_asset_are_capped(self, registry):
        series = AssetSeries(registry, max_assets=1, max_channels=2)
        series.observe("a", 0.1, 0.9, {"x": 1.0, "y": 2.0, "z": 3.0})
        assert sample(registry, "linewatch_asset_channel_value", asset="a", channel="z") is None
        series.observe("a", 0.1, 0.9, {"x": 5.0, "z": 3.0})
        assert sample(registry, "linewatch_asset_channel_value", asset="a", channel="x") == 5.0

    def test_alarming_asset_evicts_the_oldest_quiet_one(self, registry):
        series = AssetSeries(registry, max_assets=2)
        series.observe("a", 0.1, 0.9, {"t": 1.0})
        series.observe("b", 0.1, 0.9, {"t": 1.0})
        series.set_alarm("b", "low")
        series.set_alarm("c", "high")
        assert series.tracked == ["b", "c"]
        assert sample(registry, "linewatch_asset_channel_value", asset="a", channel="t") is None
        assert sample(registry, "linewatch_asset_alarm", asset="b") == 1
        assert sample(registry, "linewatch_asset_alarm", asset="c") == 2

    def test_a_scrape_shows_the_latest_values_as_gauges(self, registry):
        series = AssetSeries(registry, max_assets=2, max_channels=2)
        series.observe("a", 0.1, 0.9, {"t": 1.0})
        assert sample(registry, "linewatch_asset_score", asset="a") == 0.1
        series.observe("a", 0.4, None, {"t": 2.0, "u": 3.0, "v": 4.0})  # no threshold: kept
        text = generate_latest(registry).decode()
        assert "# TYPE linewatch_asset_channel_value gauge" in text
        assert 'linewatch_asset_score{asset="a"} 0.4' in text
        assert 'linewatch_asset_threshold{asset="a"} 0.9' in text
        assert 'linewatch_asset_channel_value{asset="a",channel="u"} 3.0' in text
        assert 'channel="v"' not in text  # capped at two
        series.set_alarm("b", "low")  # tracked from its alarm on, before any reading
        assert sample(registry, "linewatch_asset_score", asset="b") == 0.0

    def test_no_eviction_when_every_tracked_asset_alarms(self, registry):
        series = AssetSeries(registry, max_assets=1)
        series.set_alarm("a", "high")
        series.set_alarm("b", "high")
        assert series.tracked == ["a"]

    def test_forget_removes_the_series_and_alarms_and_frees_the_slots(self, registry):
        series = AssetSeries(registry, max_assets=2)
        series.observe("a", 0.1, 0.9, {"t": 1.0})
        series.set_alarm("b", "high")
        series.set_alarm("untracked", "low")  # alarming, but the cap is full
        assert series.forget(["a", "b", "untracked", "never-seen"]) == 2
        assert series.tracked == [] and not series.alarming("b")
        text = generate_latest(registry).decode()
        assert 'asset="a"' not in text and 'asset="b"' not in text
        series.observe("c", 0.1, 0.9, {"t": 1.0})
        series.observe("d", 0.1, 0.9, {"t": 1.0})
        assert series.tracked == ["c", "d"]
        assert series.forget(["c"]) == 0 and series.tracked == ["d"]

    def test_zero_cap_exports_no_asset_series(self, registry):
        series = AssetSeries(registry, max_assets=0)
        series.observe("a", 0.1, 0.9, {"t": 1.0})
        series.set_alarm("a", "high")
        assert series.tracked == []


class _WrittenWhileIterated(dict[str, Any]):
    """A dict the service thread writes to while the scrape thread iterates it (modelled:
    iterating the live dict adds an entry after the first item)."""

    def items(self) -> Any:
        def written_meanwhile() -> Iterator[tuple[str, Any]]:
            for item in super(_WrittenWhileIterated, self).items():
                yield item
                self[f"new-{len(self)}"] = _Tracked()

        return written_meanwhile()


class TestScrapeThread:
    def test_a_scrape_iterates_copies_of_the_dicts_the_service_writes(self):
        tracked = _WrittenWhileIterated(a=_Tracked(0.3, 0.9, _WrittenWhileIterated(t=1.0)))
        score, _, channel = _Latest(tracked).collect()
        assert [s.value for s in score.samples] == [0.3]
        assert [s.labels for s in channel.samples] == [{"asset": "a", "channel": "t"}]


class TestRevokedAssets:
    """A partition moved to another instance takes its assets' series and alarms along."""

    def _states(self, metrics: ServiceMetrics) -> PartitionStates:
        states = PartitionStates(Settings.load(None), {"a": object(), "b": object()}, metrics)
        states.restore([0, 1])
        states.touch_all({"a": 0, "b": 1})
        return states

    def test_dropped_partitions_assets_vanish_from_a_scrape(self, registry):
        metrics = ServiceMetrics(registry)
        states = self._states(metrics)
        metrics.observe_outcomes([scored("a", 1, alert=alert("a", "raised")), scored("b", 1)])
        metrics.observe_outcomes([scored("b", 2, alert=alert("b", "raised", "low"))])
        assert sample(registry, "linewatch_alerts_active") == 2
        states.drop([0])
        text = generate_latest(registry).decode()
        assert 'asset="a"' not in text
        assert 'linewatch_asset_alarm{asset="b"} 1.0' in text
        assert 'linewatch_asset_score{asset="b"} 0.5' in text
        assert sample(registry, "linewatch_alerts_active") == 1
        assert sample(registry, "linewatch_alerts_total", state="raised", severity="high") == 1

    def test_an_alarm_restored_raised_is_counted_once_and_clears(self, registry):
        metrics = ServiceMetrics(registry)
        metrics.resume_alarm(alert("a", "raised"))
        metrics.resume_alarm(alert("a", "raised"))
        assert sample(registry, "linewatch_alerts_active") == 1
        assert sample(registry, "linewatch_asset_alarm", asset="a") == 2
        metrics.observe_alert(alert("a", "cleared"))
        assert sample(registry, "linewatch_alerts_active") == 0


class FakeConsumer:
    def __init__(self, positions: dict[int, int], high: dict[int, int]) -> None:
        self.positions, self.high, self.calls = positions, high, 0

    def assignment(self) -> list[TopicPartition]:
        return [TopicPartition("r", p) for p in self.positions]

    def position(self, partitions: list[TopicPartition]) -> list[TopicPartition]:
        self.calls += 1
        return [
            TopicPartition(p.topic, p.partition, self.positions[p.partition]) for p in partitions
        ]

    def get_watermark_offsets(
        self, partition: TopicPartition, timeout: float | int | None = None, cached: bool = False
    ) -> tuple[int, int]:
        assert cached, "lag must not ask the broker"
        return 0, self.high[partition.partition]


class TestConsumerLag:
    def test_lag_per_partition_skips_unknown_positions_and_watermarks(self, registry):
        lag = ConsumerLag(registry, clock=lambda: 0.0)
        lag.update(FakeConsumer({0: 5, 1: -1001, 2: 3}, {0: 12, 1: 9, 2: -1001}))
        assert sample(registry, "linewatch_consumer_lag_messages", topic="r", partition="0") == 7
        for partition in ("1", "2"):
            assert (
                sample(registry, "linewatch_consumer_lag_messages", topic="r", partition=partition)
                is None
            )

    def test_throttled_and_revoked_partitions_are_removed(self, registry):
        now = [0.0]
        lag = ConsumerLag(registry, min_interval_s=1.0, clock=lambda: now[0])
        consumer = FakeConsumer({0: 5, 1: 5}, {0: 5, 1: 9})
        assert lag.update(consumer)
        now[0] = 0.5
        assert not lag.update(consumer)
        assert consumer.calls == 1
        now[0] = 1.5
        assert lag.update(FakeConsumer({0: 5}, {0: 6}))
        assert sample(registry, "linewatch_consumer_lag_messages", topic="r", partition="0") == 1
        assert sample(registry, "linewatch_consumer_lag_messages", topic="r", partition="1") is None
