from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from pipeline.messages import Label, Reading
from producers.cli import simulate
from producers.replay.cli import replay
from producers.replay.layouts import Layout
from producers.replay.stream import FileStart, Problem, ReplayOptions
from producers.replay.stream import replay as replay_stream

SKAB_HEADER = "datetime;Current;Pressure;anomaly;changepoint\n"


def invoke(*args: str):
    return CliRunner().invoke(replay, list(args), catch_exceptions=False)


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def records(paths: list[Path], **options: object) -> list[object]:
    found = replay_stream(paths, ReplayOptions(**options))  # type: ignore[arg-type]
    return [item for item in found if not isinstance(item, FileStart)]


@pytest.fixture
def nab_file(tmp_path: Path) -> Path:
    path = tmp_path / "realTraffic" / "speed_1.csv"
    path.parent.mkdir()
    lines = ["timestamp,value"] + [f"2024-01-01 00:0{i}:00,{10 + i}" for i in range(6)]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def skab_file(tmp_path: Path) -> Path:
    path = tmp_path / "valve1" / "3.csv"
    path.parent.mkdir()
    flags = [(0, 0), (1, 1), (1, 0), (1, 0), (0, 1), (0, 0)]
    body = "".join(
        f"2020-03-09 10:14:{30 + i};1.{i};0.5;{a}.0;{c}.0\n" for i, (a, c) in enumerate(flags)
    )
    path.write_text(SKAB_HEADER + body)
    return path


class TestLayouts:
    def test_nab_row_is_one_value_channel_of_a_fixed_asset(self, nab_file):
        found = records([nab_file], fmt="nab")
        assert found[0] == Reading("realTraffic-speed_1", 1704067200000, {"value": 10.0})
        assert len(found) == 6

    def test_skab_label_columns_become_fault_start_and_end(self, skab_file):
        found = records([skab_file], fmt="skab")
        readings = [r for r in found if isinstance(r, Reading)]
        labels = [(r.kind, r.fault, r.ts - readings[0].ts) for r in found if isinstance(r, Label)]
        assert len(readings) == 6
        assert set(readings[0].values) == {"Current", "Pressure"}
        assert labels == [
            ("fault_start", "anomaly", 1000),
            ("fault_start", "changepoint", 1000),
            ("fault_end", "changepoint", 2000),
            ("fault_end", "anomaly", 4000),
            ("fault_start", "changepoint", 4000),
            ("fault_end", "changepoint", 5000),
        ]

    def test_a_label_comes_just_before_the_reading_it_describes(self, skab_file):
        found = records([skab_file], fmt="skab")
        first = next(i for i, r in enumerate(found) if isinstance(r, Label))
        assert isinstance(found[first - 1], Reading) and isinstance(found[first + 2], Reading)
        assert found[first + 2].ts == found[first].ts  # type: ignore[attr-defined]

    def test_column_mapping_renames_and_selects_channels(self, skab_file):
        found = records(
            [skab_file],
            fmt="skab",
            channels={"Current": "motor_current_a"},
            label_columns=(),
            asset="pump-1",
        )
        assert found[0] == Reading("pump-1", 1583748870000, {"motor_current_a": 1.0})
        assert not any(isinstance(r, Label) for r in found)

    def test_missing_mapped_column_is_a_clear_error(self, nab_file):
        with pytest.raises(ValueError, match="no channel column 'speed'; the file has timestamp"):
            records([nab_file], fmt="nab", channels={"speed": "speed"})

    def test_numeric_epoch_seconds(self):
        layout = Layout.build("wide", ("ts", "asset", "v"), epoch_unit="s")
        assert layout.parse(["1700000000", "a", "2"]).ts == 1_700_000_000_000


class TestBadRows:
    def test_bad_rows_are_reported_with_file_and_line_and_skipped(self, nab_file, tmp_path):
        text = nab_file.read_text().splitlines()
        text[2] = "2024-01-01 00:01:00,lots"
        text[4] = "not a time,3"
        text[5] = "2024-01-01 00:04:00,nan"
        text[6] = "2024-01-01 00:05:00,2e15"
        text.append("2024-01-01 00:09:00,1,2")
        nab_file.write_text("\n".join(text) + "\n")
        out = tmp_path / "out.csv"
        result = invoke(str(nab_file), "--format", "nab", "--max-speed", "--out", str(out))
        assert result.exit_code == 0
        for line, why in [
            (3, "'lots' is not a number"),
            (5, "'not a time' is not a timestamp"),
            (6, "nan is not a finite number"),
            (7, "2000000000000000.0 is beyond ±1e+15"),
            (8, "expected 2 fields, got 3"),
        ]:
            assert f"{nab_file}:{line}: " in result.stderr and why in result.stderr
        assert "2 readings, 0 labels, 5 bad rows skipped" in result.stderr
        assert len(rows(out)) == 2

    def test_strict_aborts_at_the_first_bad_row(self, nab_file, tmp_path):
        nab_file.write_text(nab_file.read_text().replace("00:02:00,12", "00:02:00,?"))
        result = invoke(
            str(nab_file),
            "--format",
            "nab",
            "--max-speed",
            "--strict",
            "--out",
            str(tmp_path / "out.csv"),
        )
        assert result.exit_code == 1
        assert f"bad row {nab_file}:4: column 'value'" in result.output
        assert "2 readings" in result.stderr


class TestRangeLoopPacing:
    def test_time_range_keeps_rows_inside_it(self, nab_file):
        found = records([nab_file], fmt="nab", start_ms=1704067260000, end_ms=1704067380000)
        assert [r.values["value"] for r in found] == [11.0, 12.0, 13.0]  # type: ignore[attr-defined]

    def test_loops_move_on_in_time(self, nab_file):
        found = [r for r in records([nab_file], fmt="nab", loops=3) if isinstance(r, Reading)]
        stamps = [r.ts for r in found]
        assert len(found) == 18
        assert stamps == sorted(stamps) and len(set(stamps)) == 18
        assert stamps[6] - stamps[5] == 60_000

    def test_speed_paces_by_the_recorded_intervals(self, nab_file, tmp_path):
        began = time.monotonic()
        result = invoke(
            str(nab_file), "--format", "nab", "--speed", "600", "--out", str(tmp_path / "o.csv")
        )  # 5 minutes recorded -> 0.5 s
        assert result.exit_code == 0
        assert 0.4 <= time.monotonic() - began < 5.0

    def test_progress_bar_shows_rate_and_eta(self, nab_file, tmp_path):
        result = invoke(
            str(nab_file),
            "--format",
            "nab",
            "--max-speed",
            "--progress",
            "--out",
            str(tmp_path / "o.csv"),
        )
        assert "6/6" in result.stderr and "rows/s" in result.stderr and "<00:00" in result.stderr


class TestLabelFiles:
    def test_nab_windows_json_gives_window_labels(self, nab_file, tmp_path):
        windows = tmp_path / "windows.json"
        windows.write_text(
            json.dumps(
                {
                    "realTraffic/speed_1.csv": [
                        ["2024-01-01 00:02:00.000000", "2024-01-01 00:03:00.000000"]
                    ]
                }
            )
        )
        found = records([nab_file], fmt="nab", labels_file=windows)
        kinds = [(type(r).__name__, getattr(r, "kind", None)) for r in found]
        assert kinds[2:6] == [
            ("Label", "fault_start"),
            ("Reading", None),
            ("Reading", None),
            ("Label", "fault_end"),
        ]

    def test_simulated_parquet_replays_with_its_labels(self, tmp_path):
        out = tmp_path / "sim.parquet"
        sim = CliRunner().invoke(
            simulate,
            [
                "--assets",
                "3",
                "--rate",
                "30",
                "--duration",
                "80",
                "--speed",
                "0",
                "--start-ts",
                "1700000000000",
                "--fault",
                "asset-001:bearing_wear@5",
                "--out",
                str(out),
            ],
        )
        assert sim.exit_code == 0, sim.output
        assert pq.read_table(tmp_path / "sim.labels.parquet").num_rows == 2
        again = tmp_path / "again.csv"
        result = invoke(
            str(out),
            "--format",
            "wide",
            "--asset",
            "asset-001",
            "--max-speed",
            "--labels",
            str(tmp_path / "sim.labels.parquet"),
            "--out",
            str(again),
        )
        assert result.exit_code == 0, result.output
        replayed = rows(again)
        assert len(replayed) == 800 and {r["asset"] for r in replayed} == {"asset-001"}
        assert [r["seq"] for r in replayed] == [str(i) for i in range(800)]
        labels = rows(tmp_path / "again.labels.csv")
        assert [r["kind"] for r in labels] == ["fault_start", "failure"]


def test_problem_names_file_and_line():
    assert str(Problem(Path("x.csv"), 7, "bad")) == "x.csv:7: bad"
