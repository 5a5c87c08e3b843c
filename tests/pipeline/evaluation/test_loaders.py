"""Loaders: the three formats become Readings in file order; bad files give a clear error."""

from __future__ import annotations

import io

import pytest

from pipeline.errors import DatasetError
from pipeline.evaluation.loaders import load, replay


class TestLoaders:
    def test_nab_rows_become_single_channel_readings_of_the_file_asset(self, datasets):
        path = datasets / "nab" / "data" / "realAdExchange" / "exchange-2_cpc_results.csv"
        recording = load(path, "nab")
        readings = list(replay(recording))
        assert len(readings) == len(recording) == 1624
        assert {r.asset for r in readings} == {"exchange-2_cpc_results"}
        assert list(readings[0].values) == ["value"]
        assert recording.labels.empty

    def test_skab_keeps_channels_and_labels_apart(self, datasets):
        recording = load(datasets / "skab" / "valve1" / "1.csv", "skab")
        assert len(recording.channels) == 8 and "Volume Flow RateRMS" in recording.channels
        assert list(recording.labels.columns) == ["anomaly", "changepoint"]
        first = next(replay(recording))
        assert "anomaly" not in first.values and len(first.values) == 8

    def test_wide_rows_carry_their_asset_and_skip_missing_values(self):
        text = (
            "timestamp,asset,vib,temp,label\n"
            "2024-01-01T00:00:00Z,a,1.0,40.0,0\n"
            "2024-01-01T00:00:01Z,b,,41.0,1\n"
        )
        readings = list(replay(load(io.StringIO(text), "wide")))
        assert [(r.asset, r.values) for r in readings] == [
            ("a", {"vib": 1.0, "temp": 40.0}),
            ("b", {"temp": 41.0}),
        ]
        assert readings[1].ts - readings[0].ts == 1000

    def test_values_serve_would_refuse_are_left_out_of_the_row(self):
        text = "timestamp,asset,vib,temp\n2024-01-01T00:00:00Z,a,1e153,-2e15\n"
        (reading,) = replay(load(io.StringIO(text), "wide"))
        assert reading.values == {}
        text = "timestamp,asset,vib,temp\n2024-01-01T00:00:00Z,a,1e15,-1e15\n"
        (reading,) = replay(load(io.StringIO(text), "wide"))
        assert reading.values == {"vib": 1e15, "temp": -1e15}

    @pytest.mark.parametrize(
        ("text", "fmt", "message"),
        [
            ("time,value\n2024-01-01,1\n", "nab", "missing column"),
            ("timestamp,value\nnot a time,1\n", "nab", "timestamp"),
            ("timestamp,asset,vib\n2024-01-01,a,high\n", "wide", "not numeric"),
            ("timestamp,asset\n2024-01-01,a\n", "wide", "no channel"),
        ],
    )
    def test_malformed_files_raise_a_clear_dataset_error(self, text, fmt, message):
        with pytest.raises(DatasetError, match=message):
            load(io.StringIO(text), fmt, "bad")
