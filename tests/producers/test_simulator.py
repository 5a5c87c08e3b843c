from __future__ import annotations

import statistics

import pytest
from river import anomaly, compose, preprocessing

from pipeline.messages import Label, Reading
from producers.simulator import (
    CHANNELS,
    FAULT_DURATION_S,
    STUCK_CHANNEL,
    FaultSpec,
    Fleet,
    Record,
    interval_for_rate,
)


def fleet_factory(**overrides: object) -> Fleet:
    arguments: dict[str, object] = {"assets": 3, "seed": 11, "interval_s": 0.1}
    arguments.update(overrides)
    return Fleet(**arguments)  # type: ignore[arg-type]


def readings_of(records: list[Record], asset: str) -> list[Reading]:
    return [r for r in records if isinstance(r, Reading) and r.asset == asset]


def channel_mean(readings: list[Reading], channel: str) -> float:
    return statistics.fmean(r.values[channel] for r in readings)


class TestFaultSpec:
    def test_parses_asset_kind_and_onset(self):
        assert FaultSpec.parse(" asset-003:bearing_wear@30.5 ") == FaultSpec(
            "asset-003", "bearing_wear", 30.5
        )

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("asset-003:bearing_wear", "expected ASSET:KIND@SECONDS"),
            ("bearing_wear@30", "expected ASSET:KIND@SECONDS"),
            (":bearing_wear@30", "expected ASSET:KIND@SECONDS"),
            ("asset-003:@30", "expected ASSET:KIND@SECONDS"),
            ("asset-003:melting@30", "unknown fault kind 'melting'"),
            (
                "asset-003:bearing_wear@soon",
                "'soon' in 'asset-003:bearing_wear@soon' is not a number",
            ),
            ("asset-003:bearing_wear@-1", "must be a finite number >= 0"),
            ("asset-003:bearing_wear@inf", "must be a finite number >= 0"),
        ],
    )
    def test_rejects_bad_text_with_a_clear_message(self, text: str, message: str):
        with pytest.raises(ValueError, match=message.replace("(", r"\(")):
            FaultSpec.parse(text)

    def test_unknown_kind_lists_the_choices(self):
        with pytest.raises(ValueError, match="bearing_wear, overheating, imbalance, stuck_sensor"):
            FaultSpec.parse("asset-000:rust@1")


class TestRateMath:
    @pytest.mark.parametrize(
        ("assets", "rate", "interval"), [(10, 100.0, 0.1), (1, 1.0, 1.0), (50, 10_000.0, 0.005)]
    )
    def test_interval_is_assets_over_rate(self, assets: int, rate: float, interval: float):
        assert interval_for_rate(assets, rate) == pytest.approx(interval)

    @pytest.mark.parametrize(("assets", "rate"), [(0, 10.0), (3, 0.0), (3, -1.0)])
    def test_rejects_empty_fleet_or_non_positive_rate(self, assets: int, rate: float):
        with pytest.raises(ValueError):
            interval_for_rate(assets, rate)

    def test_duration_gives_readings_at_the_requested_rate(self):
        assets, rate, duration = 4, 40.0, 5.0
        fleet = Fleet(assets, interval_s=interval_for_rate(assets, rate))
        readings = [r for r in fleet.records(fleet.ticks_for(duration)) if isinstance(r, Reading)]
        assert len(readings) == duration * rate


class TestFleet:
    def test_same_seed_gives_identical_stream(self):
        faults = [FaultSpec.parse("asset-001:bearing_wear@1")]
        first = list(fleet_factory(faults=faults).records(ticks=300))
        second = list(fleet_factory(faults=faults).records(ticks=300))
        assert first == second

    def test_other_seed_gives_other_values(self):
        first = list(fleet_factory(seed=1).records(ticks=5))
        second = list(fleet_factory(seed=2).records(ticks=5))
        assert [r.values for r in first] != [r.values for r in second]  # type: ignore[union-attr]

    def test_asset_signals_do_not_depend_on_fleet_size(self):
        small = readings_of(list(Fleet(2, seed=3).records(ticks=50)), "asset-001")
        large = readings_of(list(Fleet(5, seed=3).records(ticks=50)), "asset-001")
        assert [r.values for r in small] == [r.values for r in large]

    def test_records_are_in_timestamp_order_with_per_asset_seq(self):
        records = list(fleet_factory(faults=[FaultSpec.parse("asset-002:imbalance@2")]).records(40))
        stamps = [r.ts for r in records]
        assert stamps == sorted(stamps)
        for asset in ("asset-000", "asset-001", "asset-002"):
            assert [r.seq for r in readings_of(records, asset)] == list(range(40))

    def test_readings_have_every_channel_with_finite_non_negative_values(self):
        for reading in fleet_factory().records(ticks=100):
            assert isinstance(reading, Reading)
            assert tuple(reading.values) == CHANNELS
            assert all(0.0 <= value < 1e5 for value in reading.values.values())

    def test_start_ts_and_interval_set_timestamps(self):
        records = list(Fleet(2, interval_s=0.5, start_ts_ms=10_000).records(ticks=2))
        assert [(r.asset, r.ts) for r in records] == [
            ("asset-000", 10_000),
            ("asset-001", 10_250),
            ("asset-000", 10_500),
            ("asset-001", 10_750),
        ]

    def test_fault_start_label_comes_just_before_first_faulty_reading(self):
        fleet = fleet_factory(faults=[FaultSpec.parse("asset-001:overheating@3")], start_ts_ms=0)
        records = list(fleet.records(ticks=50))
        labels = [r for r in records if isinstance(r, Label)]
        assert labels == [Label("asset-001", 3033, "fault_start", "overheating")]
        after = records[records.index(labels[0]) + 1]
        assert isinstance(after, Reading)
        assert (after.asset, after.ts) == ("asset-001", 3033)

    def test_bearing_wear_ends_in_failure_label_and_a_stopped_machine(self):
        fleet = fleet_factory(faults=[FaultSpec.parse("asset-000:bearing_wear@1")])
        duration = FAULT_DURATION_S["bearing_wear"]
        assert duration is not None
        records = list(fleet.records(fleet.ticks_for(duration + 5)))
        kinds = [r.kind for r in records if isinstance(r, Label)]
        assert kinds == ["fault_start", "failure"]
        last = readings_of(records, "asset-000")[-1]
        assert last.values["speed_rpm"] == 0.0
        assert last.values["motor_current_a"] == 0.0

    def test_bearing_wear_raises_vibration_and_temperature(self):
        fleet = fleet_factory(faults=[FaultSpec.parse("asset-001:bearing_wear@20")])
        records = list(fleet.records(fleet.ticks_for(60)))
        before = [r for r in readings_of(records, "asset-001") if r.seq is not None and r.seq < 200]
        late = readings_of(records, "asset-001")[-100:]
        healthy = readings_of(records, "asset-000")[-100:]
        for channel in ("vibration_rms_mm_s", "vibration_hf_g"):
            assert channel_mean(late, channel) > 1.8 * channel_mean(before, channel)
        assert channel_mean(late, "bearing_temp_c") > channel_mean(before, "bearing_temp_c") + 5
        healthy_before = readings_of(records, "asset-000")[:200]
        assert channel_mean(healthy, "vibration_rms_mm_s") == pytest.approx(
            channel_mean(healthy_before, "vibration_rms_mm_s"), rel=0.1
        )

    def test_stuck_sensor_freezes_its_channel(self):
        fleet = fleet_factory(faults=[FaultSpec.parse("asset-002:stuck_sensor@1")])
        stuck = readings_of(list(fleet.records(ticks=100)), "asset-002")[10:]
        assert len({r.values[STUCK_CHANNEL] for r in stuck}) == 1
        assert len({r.values["vibration_rms_mm_s"] for r in stuck}) > 50

    def test_rejects_fault_on_unknown_asset(self):
        with pytest.raises(ValueError, match="unknown asset 'asset-042'.*asset-000..asset-002"):
            fleet_factory(faults=[FaultSpec.parse("asset-042:imbalance@1")])

    def test_block_boundaries_do_not_change_the_stream(self):
        fleet = Fleet(3000, seed=5, faults=[FaultSpec.parse("asset-007:stuck_sensor@0.5")])
        whole = readings_of(list(fleet.records(ticks=40)), "asset-007")
        part = readings_of(list(fleet.records(ticks=15)), "asset-007")
        assert whole[:15] == part


class TestHalfSpaceTreesSeparation:
    """Healthy and bearing-wear assets separate under ``MinMaxScaler | HalfSpaceTrees``.

    The model learns each asset's first 30 s (all healthy), then only scores, as the service
    does once it stops learning from anomalous readings.
    """

    @pytest.mark.parametrize("seed", [0, 1, 2])
    def test_faulty_asset_scores_well_above_healthy(self, seed: int):
        fault = FaultSpec.parse("asset-001:bearing_wear@40")
        fleet = Fleet(2, seed=seed, faults=[fault], interval_s=0.1)
        scores: dict[str, list[float]] = {"asset-000": [], "asset-001": []}
        models = {asset: self._model() for asset in scores}
        for record in fleet.records(fleet.ticks_for(70)):
            if isinstance(record, Reading):
                scores[record.asset].append(models[record.asset].score_one(record.values))
                if len(scores[record.asset]) <= 300:
                    models[record.asset].learn_one(record.values)
        healthy = statistics.fmean(scores["asset-000"][-200:])
        faulty = statistics.fmean(scores["asset-001"][-200:])
        assert faulty > 0.95
        assert faulty > healthy + 0.04

    @staticmethod
    def _model() -> compose.Pipeline:
        detector = anomaly.HalfSpaceTrees(n_trees=25, height=8, window_size=100, seed=42)
        return compose.Pipeline(preprocessing.MinMaxScaler(), detector)
