"""evaluate nab|skab|table and report, on small subsets so they run in seconds."""

from __future__ import annotations

import re
import shutil

import pandas as pd
import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.evaluation import nab
from pipeline.evaluation.benchmarks import evaluate_nab, evaluate_skab
from pipeline.evaluation.table import detector_kinds, render_table
from pipeline.settings import Settings

PROFILE_LINE = re.compile(r"^(standard|reward_low_FP_rate|reward_low_FN_rate)\s+(-?\d+\.\d\d)\s")


class TestEvaluateNab:
    def test_prints_three_normalised_scores_and_the_rate(self, datasets, nab_subset, tmp_path):
        labels = datasets / "nab" / "labels" / "combined_windows.json"
        out = tmp_path / "results"
        args = ["evaluate", "nab", "--data", str(nab_subset), "--labels", str(labels)]
        result = CliRunner().invoke(main, [*args, "--out", str(out)])
        assert result.exit_code == 0, result.output
        scores = {
            match.group(1): float(match.group(2))
            for line in result.stdout.splitlines()
            if (match := PROFILE_LINE.match(line))
        }
        assert set(scores) == {"standard", "reward_low_FP_rate", "reward_low_FN_rate"}
        assert "2 files, 1 windows" in result.stdout
        assert re.search(r"[\d,]+ readings/s per core", result.stdout)
        written = pd.read_csv(out / "realAdExchange" / "exchange-2_cpc_results.csv")
        assert list(written.columns) == ["timestamp", "anomaly_score", "is_anomaly", "label"]

    def test_scores_equal_rescoring_the_written_files(self, datasets, nab_subset, tmp_path):
        labels = datasets / "nab" / "labels" / "combined_windows.json"
        out = tmp_path / "results"
        result = evaluate_nab(nab_subset, labels, Settings.load(None), progress=False, out_dir=out)
        windows = nab.load_windows(labels)
        files = {}
        for path in sorted(out.rglob("*.csv")):
            frame = pd.read_csv(path)
            name = path.relative_to(out).as_posix()
            files[name] = (frame["timestamp"].tolist(), frame["anomaly_score"].to_numpy())
        rescored = nab.score_corpus(files, windows, nab.PROFILES)
        for profile, score in result.scores.items():
            assert rescored[profile].normalised == pytest.approx(score.normalised)

    def test_worker_processes_give_the_same_numbers(self, datasets, nab_subset):
        labels = datasets / "nab" / "labels" / "combined_windows.json"
        settings = Settings.load(None)
        one = evaluate_nab(nab_subset, labels, settings, progress=False)
        two = evaluate_nab(nab_subset, labels, settings, progress=False, jobs=2)
        assert [r.name for r in two.run.files] == [r.name for r in one.run.files]
        for a, b in zip(one.run.files, two.run.files, strict=True):
            pd.testing.assert_frame_equal(a.detection.frame, b.detection.frame)
        assert one.scores == two.scores

    def test_a_file_without_labels_is_refused(self, datasets, nab_subset):
        shutil.copy(
            nab_subset / "realAdExchange" / "exchange-2_cpc_results.csv", nab_subset / "mystery.csv"
        )
        labels = datasets / "nab" / "labels" / "combined_windows.json"
        args = ["evaluate", "nab", "--data", str(nab_subset), "--labels", str(labels)]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 1 and "mystery.csv" in result.output


class TestEvaluateSkab:
    def test_prints_f1_far_mar_and_the_rate(self, skab_subset):
        result = CliRunner().invoke(main, ["evaluate", "skab", "--data", str(skab_subset)])
        assert result.exit_code == 0, result.output
        assert re.search(r"^F1  \d\.\d{3}$", result.stdout, re.M)
        assert re.search(r"^FAR \d+\.\d\d %$", result.stdout, re.M)
        assert re.search(r"^MAR \d+\.\d\d %$", result.stdout, re.M)
        assert "1 anomalous files" in result.stdout and "readings/s per core" in result.stdout

    def test_metrics_are_skab_metrics_of_is_anomaly_after_warm_up(self, skab_subset):
        result = evaluate_skab(
            skab_subset, Settings.load(None, alerts={"warmup": 100}), progress=False
        )
        frame = result.run.files[0].detection.frame
        truth, alarm = frame["anomaly"][400:] > 0.5, frame["is_anomaly"][400:] > 0
        assert result.counts.tp == int((truth & alarm).sum())
        assert result.counts.fn == int((truth & ~alarm).sum())
        assert result.counts.fp == int((~truth & alarm).sum())
        assert (
            result.counts.tp + result.counts.fp + result.counts.tn + result.counts.fn
            == len(frame) - 400
        )


class TestReportAndTable:
    def test_report_draws_a_png(self, datasets, tmp_path):
        source = datasets / "skab" / "valve1" / "1.csv"
        out = tmp_path / "pic.png"
        args = ["report", str(source), "--format", "skab", "--out", str(out)]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
        assert out.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")

    def test_table_has_one_line_per_detector_kind(self, datasets, nab_subset, skab_subset):
        labels = datasets / "nab" / "labels" / "combined_windows.json"
        settings = Settings.load(None)
        nab_result = evaluate_nab(nab_subset, labels, settings, progress=False)
        skab_result = evaluate_skab(skab_subset, settings, progress=False)
        rows = [(kind, nab_result, skab_result) for kind in detector_kinds()]
        page = render_table(rows, None, None)
        table_lines = [line for line in page.splitlines() if line.startswith("| ")]
        assert len(table_lines) == 1 + len(detector_kinds())
        assert "linewatch evaluate table" in page


class TestHelp:
    @pytest.mark.parametrize(
        "command",
        [["detect"], ["evaluate", "nab"], ["evaluate", "skab"], ["evaluate", "table"], ["report"]],
        ids=" ".join,
    )
    def test_every_file_command_explains_itself(self, command):
        result = CliRunner().invoke(main, [*command, "--help"])
        assert result.exit_code == 0, result.output
        usage, _, rest = result.output.partition("\n\n")
        assert usage.startswith("Usage: main " + " ".join(command))
        assert len(rest.split("Options:")[0].split()) >= 8
        assert "--config" in result.output or command == ["evaluate", "table"]
