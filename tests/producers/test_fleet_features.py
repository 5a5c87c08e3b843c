"""Machine types, fault modes, maintenance, regimes and sensor imperfections of the fleet."""

from __future__ import annotations

import statistics

import pytest
from click.testing import CliRunner

from pipeline.messages import Label, Reading
from producers.cli import simulate
from producers.simulator import (
    CHANNELS,
    DRIFT_CHANNEL,
    FAULT_DURATION_S,
    Disturbances,
    FaultSpec,
    Fleet,
    Record,
)

ONSET_S = 30.0


def readings_of(records: list[Record], asset: str) -> list[Reading]:
    return [r for r in records if isinstance(r, Reading) and r.asset == asset]


def mean(readings: list[Reading], channel: str) -> float:
    return statistics.fmean(r.values[channel] for r in readings)


def before_and_late(kind: str, seed: int = 4) -> tuple[list[Reading], list[Reading]]:
    """asset-000 (a pump) healthy before onset, and just before failure (or 120 s in)."""
    fleet = Fleet(1, seed=seed, faults=[FaultSpec("asset-000", kind, ONSET_S)], interval_s=0.1)  # type: ignore[arg-type]
    duration = FAULT_DURATION_S[kind]  # type: ignore[index]
    until = ONSET_S + (duration - 1 if duration else 120.0)
    readings = readings_of(list(fleet.records(fleet.ticks_for(until))), "asset-000")
    return readings[: int(ONSET_S * 10) - 10], readings[-50:]


# (fault, channel, factor): the late mean over the healthy mean is above factor (>1) or below it.
EXPECTED = [
    ("bearing_wear", "vibration_hf_g", 2.0),
    ("bearing_wear", "bearing_temp_c", 1.3),
    ("overheating", "bearing_temp_c", 1.5),
    ("overheating", "motor_current_a", 1.15),
    ("imbalance", "vibration_rms_mm_s", 1.3),
    ("misalignment", "vibration_rms_mm_s", 2.0),
    ("misalignment", "bearing_temp_c", 1.15),
    ("cavitation", "flow_m3_h", 0.75),
    ("cavitation", "pressure_bar", 0.85),
    ("cavitation", "vibration_hf_g", 2.0),
    ("filter_clogging", "flow_m3_h", 0.5),
    ("filter_clogging", "pressure_bar", 1.2),
    ("sensor_drift", DRIFT_CHANNEL, 1.5),
]


class TestFaultModes:
    @pytest.mark.parametrize(("kind", "channel", "factor"), EXPECTED)
    def test_fault_moves_its_channel(self, kind: str, channel: str, factor: float):
        before, late = before_and_late(kind)
        ratio = mean(late, channel) / mean(before, channel)
        assert ratio > factor if factor > 1 else ratio < factor, ratio

    def test_sensor_drift_leaves_the_machine_alone(self):
        before, late = before_and_late("sensor_drift")
        for channel in ("vibration_rms_mm_s", "motor_current_a", "flow_m3_h"):
            assert mean(late, channel) == pytest.approx(mean(before, channel), rel=0.15)

    def test_failure_stops_the_machine_until_maintenance_then_it_restarts(self):
        fault = FaultSpec("asset-000", "cavitation", 10.0)
        fleet = Fleet(1, seed=2, faults=[fault], interval_s=0.5, repair_s=100.0)
        records = list(fleet.records(fleet.ticks_for(10 + 150 + 100 + 200)))
        labels = [(r.kind, r.ts) for r in records if isinstance(r, Label)]
        assert [kind for kind, _ in labels] == ["fault_start", "failure", "maintenance"]
        assert labels[1][1] - labels[0][1] == 150_000 and labels[2][1] - labels[1][1] == 100_000
        stopped = [
            r for r in records if isinstance(r, Reading) and labels[1][1] <= r.ts < labels[2][1]
        ]
        assert {r.values["speed_rpm"] for r in stopped} == {0.0}
        assert stopped[-1].values["bearing_temp_c"] < stopped[0].values["bearing_temp_c"]
        running = readings_of(records, "asset-000")[-20:]
        assert min(r.values["speed_rpm"] for r in running) > 1400


class TestFleetOptions:
    def test_machine_types_have_their_own_ranges(self):
        fleet = Fleet(4, seed=1)
        assert fleet.types == (
            "centrifugal_pump",
            "motor_gearbox",
            "hydraulic_press",
            "cnc_spindle",
        )
        records = list(fleet.records(50))
        press, spindle = readings_of(records, "asset-002"), readings_of(records, "asset-003")
        assert mean(press, "pressure_bar") > 100 > mean(spindle, "pressure_bar")
        assert mean(spindle, "speed_rpm") > 5000 > mean(press, "speed_rpm")

    def test_dropouts_skip_readings_and_their_seq(self):
        fleet = Fleet(2, seed=3, disturbances=Disturbances(dropout=0.1))
        readings = [r for r in fleet.records(500) if isinstance(r, Reading)]
        assert 800 < len(readings) < 950
        seqs = [r.seq or 0 for r in readings if r.asset == "asset-000"]
        assert seqs == sorted(seqs) and len(seqs) < 500

    def test_glitches_spike_single_values(self):
        clean = [r for r in Fleet(1, seed=3).records(2000) if isinstance(r, Reading)]
        noisy = [
            r
            for r in Fleet(1, seed=3, disturbances=Disturbances(glitch=0.01)).records(2000)
            if isinstance(r, Reading)
        ]
        changed = [(a, b) for a, b in zip(clean, noisy, strict=True) if a != b]
        assert 5 < len(changed) < 50
        for a, b in changed:
            differ = [c for c in CHANNELS if a.values[c] != b.values[c]]
            assert len(differ) == 1
            assert b.values[differ[0]] in (0.0, pytest.approx(8 * a.values[differ[0]], rel=0.01))

    def test_shifts_bring_shut_downs_start_ups_and_load_levels(self):
        fleet = Fleet(1, seed=5, interval_s=1.0, shift_s=600.0)
        readings = [r for r in fleet.records(1800) if isinstance(r, Reading)]
        speeds = [r.values["speed_rpm"] for r in readings]
        assert speeds.count(0.0) > 20  # three standstills
        assert any(0 < s < 1000 for s in speeds)  # ramps
        loads = [
            statistics.fmean(r.values["load_pct"] for r in readings[i : i + 400])
            for i in (0, 600, 1200)
        ]
        assert max(loads) - min(loads) > 1.0

    def test_same_seed_same_stream_with_every_option(self):
        def make() -> list[Record]:
            fleet = Fleet(
                3,
                seed=9,
                shift_s=60.0,
                disturbances=Disturbances(0.05, 0.05),
                faults=[FaultSpec("asset-002", "filter_clogging", 5.0)],
            )
            return list(fleet.records(400))

        assert make() == make()


class TestSimulateOptions:
    def test_time_scale_writes_hours_in_seconds_to_parquet(self, tmp_path):
        import pyarrow.parquet as pq

        out = tmp_path / "day.parquet"
        result = CliRunner().invoke(
            simulate,
            [
                "--assets",
                "4",
                "--rate",
                "1",
                "--duration",
                "7200",
                "--time-scale",
                "7200",
                "--fault",
                "asset-000:misalignment@600",
                "--seed",
                "1",
                "--out",
                str(out),
            ],
        )
        assert result.exit_code == 0, result.output
        assert pq.read_table(out).num_rows == 7200
        labels = pq.read_table(tmp_path / "day.labels.parquet").to_pylist()
        assert [label["kind"] for label in labels] == ["fault_start", "failure", "maintenance"]

    def test_unknown_machine_type_is_a_usage_error(self):
        result = CliRunner().invoke(simulate, ["--machine-types", "pump,toaster"])
        assert (
            result.exit_code == 2 and "unknown machine type(s) ['pump', 'toaster']" in result.output
        )


def test_encoded_stream_is_the_encoding_of_the_record_stream():
    from pipeline.messages import encode

    def fleet() -> Fleet:
        faults = [FaultSpec("asset-001", "bearing_wear", 2.0)]
        return Fleet(3, seed=2, faults=faults, disturbances=Disturbances(0.05, 0.05))

    plain, fast = list(fleet().records(700)), list(fleet().encoded(700))
    assert len(plain) == len(fast)
    for record, encoded in zip(plain, fast, strict=True):
        if isinstance(record, Label):
            assert encoded == record
        else:
            assert encoded.payload == encode(record) and encoded.ts == record.ts  # type: ignore[union-attr]
