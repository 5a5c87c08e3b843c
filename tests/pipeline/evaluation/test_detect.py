"""detect: the service's data path over a file, strictly online, one output row per input row."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.evaluation.detect import detect
from pipeline.evaluation.loaders import load
from pipeline.evaluation.table import detector_kinds
from pipeline.messages import Reading
from pipeline.processor import Processor
from pipeline.settings import Settings


def machine(rows: int = 1400, seed: int = 7) -> pd.DataFrame:
    """Two assets with three correlated channels; asset m1 develops a fault at row 1150."""
    rng = np.random.default_rng(seed)
    t = np.arange(rows)
    frames = []
    for asset in ("m1", "m2"):
        base = np.sin(t / 40.0)
        frame = pd.DataFrame(
            {
                "timestamp": pd.Timestamp("2024-01-01") + pd.to_timedelta(t, unit="s"),
                "asset": asset,
                "vib": base + rng.normal(0, 0.1, rows),
                "temp": 40 + 2 * base + rng.normal(0, 0.2, rows),
                "flow": 30 - base + rng.normal(0, 0.1, rows),
                "label": 0,
            }
        )
        if asset == "m1":
            frame.loc[1150:, "vib"] += 8.0
            frame.loc[1150:, "label"] = 1
        frames.append(frame)
    return pd.concat(frames).sort_values(["timestamp", "asset"], kind="stable")


def run(frame: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    recording = load(io.StringIO(frame.to_csv(index=False)), "wide", "machine")
    return detect(recording, settings).frame


class TestNoLookAhead:
    @pytest.mark.parametrize("kind", detector_kinds())
    def test_row_i_is_unchanged_when_later_rows_are_altered(self, kind):
        # A threshold every kind's fault score crosses, so the alarm path is exercised too
        # (raised on one reading: extremes reports an event on its first reading only).
        alerts = {"threshold": 0.95, "raise_after": 1}
        settings = Settings.load(None, model={"kind": kind}, alerts=alerts)
        original = machine()
        reference = run(original, settings)
        assert reference["is_anomaly"].any(), "the fault should raise an alarm"
        rng = np.random.default_rng(1)
        for cut in (150, 1500, 2400):  # rows of the interleaved two-asset file
            altered = original.copy()
            later = altered.index[cut + 1 :]
            tail = altered.iloc[cut + 1 :]
            altered.iloc[cut + 1 :, 2:5] = tail.iloc[:, 2:5] * 5 + rng.normal(0, 3, (len(later), 3))
            got = run(altered, settings)
            pd.testing.assert_frame_equal(got.iloc[: cut + 1], reference.iloc[: cut + 1])
            assert not got.iloc[cut + 1 :].equals(reference.iloc[cut + 1 :])


class TestDetect:
    def test_process_reading_scores_a_decoded_reading_like_process(self):
        from_bytes, from_reading = Processor(Settings.load(None)), Processor(Settings.load(None))
        for ts in range(200):
            reading = Reading("a", ts, {"vib": float(ts % 5), "temp": 40.0})
            payload = f'{{"asset": "a", "ts": {ts}, "values": {{"vib": {ts % 5}.0, "temp": 40.0}}}}'
            assert from_reading.process_reading(reading) == from_bytes.process(payload.encode())

    @pytest.mark.parametrize("kind", ["extremes", "extremes_artime"])
    def test_without_fleets_process_reading_gives_process_outcomes(self, kind):
        """Kinds without a fleet take process_reading's short way: the same outcomes as the
        batch path, dead letters (duplicate, out of order, no model channel) included."""
        settings = Settings.load(
            None, model={"kind": kind, "channels": ["vib"], "artime_probation": 50}
        )
        from_bytes, from_reading = Processor(settings), Processor(settings)
        for ts in [*range(300), 299, 120, 300]:
            values = {"vib": float(ts % 7) + (9.0 if ts == 250 else 0.0), "temp": 40.0}
            if ts == 300:
                values = {"temp": 1.0}
            payload = json.dumps({"asset": "a", "ts": ts, "values": values}).encode()
            outcome = from_reading.process_reading(Reading("a", ts, values), value=payload)
            assert outcome == from_bytes.process(payload)
        assert outcome.dead_letter is not None and outcome.dead_letter.reason == "missing_field"

    def test_rows_the_service_would_dead_letter_keep_their_place(self):
        text = "timestamp,value\n2024-01-01 00:00,1\n2024-01-01 00:05,2\n2024-01-01 00:05,2\n"
        detection = detect(load(io.StringIO(text), "nab", "dup"), Settings.load(None))
        assert detection.rows == 3
        assert detection.dead_letters == {"duplicate": 1}
        assert detection.frame["anomaly_score"].iloc[2] == 0.0

    def test_cli_writes_one_row_per_input_row_in_order(self, tmp_path):
        frame = machine(rows=600)
        source = tmp_path / "machine.csv"
        frame.to_csv(source, index=False)
        out = tmp_path / "out" / "scores.csv"
        result = CliRunner().invoke(
            main, ["detect", str(source), "--format", "wide", "--out", str(out)]
        )
        assert result.exit_code == 0, result.output
        written = pd.read_csv(out)
        assert list(written.columns) == ["timestamp", "anomaly_score", "is_anomaly", "label"]
        assert len(written) == len(frame) == 1200
        assert written["timestamp"].tolist() == frame["timestamp"].astype(str).tolist()
        assert written["label"].tolist() == frame["label"].tolist()
        assert written["anomaly_score"].between(0.0, 1.0).all()
        assert set(written["is_anomaly"]) <= {0, 1}
        assert "readings/s" in result.output

    def test_cli_adds_nab_labels_from_the_windows_file(self, datasets, tmp_path):
        source = datasets / "nab" / "data" / "realAdExchange" / "exchange-2_cpc_results.csv"
        labels = datasets / "nab" / "labels" / "combined_windows.json"
        out = tmp_path / "scores.csv"
        args = [
            "detect",
            str(source),
            "--format",
            "nab",
            "--out",
            str(out),
            "--labels",
            str(labels),
        ]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
        written = pd.read_csv(out)
        assert len(written) == 1624 and 0 < written["label"].sum() < 1624

    def test_cli_uses_the_settings_file(self, tmp_path):
        source = tmp_path / "s.csv"
        machine(rows=300).to_csv(source, index=False)
        config = tmp_path / "c.toml"
        config.write_text('[model]\nkind = "hst"\nn_trees = 3\nheight = 4\n')
        args = ["detect", str(source), "--format", "wide", "--out", str(tmp_path / "o.csv")]
        result = CliRunner().invoke(main, [*args, "--config", str(config)])
        assert result.exit_code == 0, result.output
        assert "n_trees=3" in result.output

    def test_cli_reports_a_malformed_file_clearly(self, tmp_path):
        source = tmp_path / "bad.csv"
        source.write_text("when,value\n1,2\n")
        args = ["detect", str(source), "--format", "nab", "--out", str(tmp_path / "o.csv")]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 1
        assert "missing column" in result.output and "Traceback" not in result.output
