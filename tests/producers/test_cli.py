from __future__ import annotations

import csv
from pathlib import Path

import pytest
from click.testing import CliRunner

from producers.cli import simulate

FIXED = ["--speed", "0", "--start-ts", "1700000000000", "--seed", "3"]


def run(*args: str):
    return CliRunner().invoke(simulate, list(args), catch_exceptions=False)


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


class TestSimulateToCsv:
    @pytest.mark.parametrize(("assets", "rate", "duration"), [(4, 40, 5), (10, 100, 2), (3, 7, 3)])
    def test_writes_duration_times_rate_readings(self, tmp_path, assets, rate, duration):
        out = tmp_path / "run.csv"
        result = run(
            "--assets",
            str(assets),
            "--rate",
            str(rate),
            "--duration",
            str(duration),
            *FIXED,
            "--out",
            str(out),
        )
        assert result.exit_code == 0, result.output
        readings = rows(out)
        assert len(readings) == duration * rate
        assert {row["asset"] for row in readings} == {f"asset-{i:03d}" for i in range(assets)}
        assert rows(tmp_path / "run.labels.csv") == []

    def test_labels_go_to_the_labels_file(self, tmp_path):
        out = tmp_path / "run.csv"
        result = run(
            "--assets",
            "2",
            "--rate",
            "20",
            "--duration",
            "70",
            *FIXED,
            "--fault",
            "asset-001:bearing_wear@5",
            "--out",
            str(out),
        )
        assert result.exit_code == 0, result.output
        labels = rows(tmp_path / "run.labels.csv")
        assert [(r["asset"], r["kind"], r["fault"]) for r in labels] == [
            ("asset-001", "fault_start", "bearing_wear"),
            ("asset-001", "failure", "bearing_wear"),
        ]
        assert labels[0]["ts"] == str(1700000000000 + 5050)

    def test_fixed_start_ts_and_seed_give_identical_files(self, tmp_path):
        args = ["--assets", "3", "--rate", "30", "--duration", "4", *FIXED]
        run(*args, "--out", str(tmp_path / "a.csv"))
        run(*args, "--out", str(tmp_path / "b.csv"))
        assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()

    def test_files_are_in_asset_order_whatever_the_order_option(self, tmp_path):
        args = ["--assets", "12", "--rate", "120", "--duration", "1", *FIXED, "--out"]
        run(*args, str(tmp_path / "default.csv"))
        run(*args, str(tmp_path / "asset.csv"), "--order", "asset")
        readings = rows(tmp_path / "default.csv")
        assert [row["asset"] for row in readings[:12]] == [f"asset-{i:03d}" for i in range(12)]
        assert (tmp_path / "default.csv").read_bytes() == (tmp_path / "asset.csv").read_bytes()

    def test_an_unknown_order_is_a_usage_error(self):
        result = CliRunner().invoke(simulate, ["--order", "random"])
        assert result.exit_code == 2
        assert "'partition', 'asset'" in result.output

    def test_prints_a_one_line_summary(self, tmp_path):
        result = run(
            "--assets",
            "2",
            "--rate",
            "20",
            "--duration",
            "1",
            *FIXED,
            "--out",
            str(tmp_path / "run.csv"),
        )
        summary = result.stderr.strip().splitlines()
        assert len(summary) == 1
        assert summary[0].startswith("simulate: 20 readings, 0 labels in ")
        assert "readings/s" in summary[0]

    def test_real_time_pacing_takes_the_simulated_duration(self, tmp_path):
        import time

        began = time.monotonic()
        result = run(
            "--assets",
            "2",
            "--rate",
            "20",
            "--duration",
            "0.5",
            "--speed",
            "1",
            "--out",
            str(tmp_path / "run.csv"),
        )
        assert result.exit_code == 0
        assert 0.4 <= time.monotonic() - began < 3.0


class TestSimulateErrors:
    @pytest.mark.parametrize(
        ("fault", "message"),
        [
            ("asset-001:melting@3", "unknown fault kind 'melting'"),
            ("nonsense", "expected ASSET:KIND@SECONDS"),
            ("asset-042:bearing_wear@3", "unknown asset 'asset-042'"),
        ],
    )
    def test_bad_fault_exits_non_zero_with_a_clear_message(self, tmp_path, fault, message):
        result = CliRunner().invoke(simulate, ["--fault", fault, "--out", str(tmp_path / "x.csv")])
        assert result.exit_code == 2
        assert message in result.output
        assert "Traceback" not in result.output
        assert not (tmp_path / "x.csv").exists()

    @pytest.mark.parametrize("option", [("--assets", "0"), ("--rate", "0"), ("--speed", "-1")])
    def test_out_of_range_options_are_usage_errors(self, option):
        result = CliRunner().invoke(simulate, list(option))
        assert result.exit_code == 2

    def test_help_explains_every_option_with_an_example(self):
        result = run("--help")
        for text in (
            "--assets",
            "--rate",
            "--duration",
            "--seed",
            "--fault",
            "--speed",
            "--start-ts",
            "--out",
            "--order",
            "--bootstrap-servers",
            "--config",
            "LINEWATCH_BOOTSTRAP_SERVERS",
            "bearing_wear",
            "Examples:",
        ):
            assert text in result.output
