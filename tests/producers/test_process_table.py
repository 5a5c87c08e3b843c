"""The simulated production table: deterministic, mostly linear KPIs, files that read back."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from pipeline.cli import main
from producers.process_table import PARAMETERS, TARGETS, ProcessSpec, process_table


def r_squared(frame: pd.DataFrame, target: str) -> float:
    design = np.column_stack([np.ones(len(frame)), frame[list(PARAMETERS)].to_numpy()])
    y = frame[target].to_numpy()
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    residual = y - design @ coef
    return 1.0 - float(residual.var() / y.var())


class TestProcessTable:
    def test_same_seed_gives_the_same_table_and_another_seed_another(self):
        first = process_table(2_000, seed=5)
        assert first.equals(process_table(2_000, seed=5))
        assert not first[list(TARGETS)].equals(process_table(2_000, seed=6)[list(TARGETS)])

    def test_columns_are_timestamp_parameters_then_targets_without_gaps(self):
        table = process_table(500, seed=1)
        assert list(table.columns) == ["timestamp", *PARAMETERS, *TARGETS]
        assert np.isfinite(table[[*PARAMETERS, *TARGETS]].to_numpy()).all()
        stamps = pd.to_datetime(table["timestamp"], utc=True)
        assert (stamps.diff().dropna() == pd.Timedelta(seconds=60)).all()

    @pytest.mark.parametrize("target", TARGETS)
    def test_targets_are_mostly_linear_in_the_parameters(self, target):
        table = process_table(5_000, seed=2, spec=ProcessSpec(drift=0.0))
        assert r_squared(table, target) > 0.9

    def test_drift_changes_the_targets_only(self):
        steady = process_table(3_000, seed=3, spec=ProcessSpec(drift=0.0))
        worn = process_table(3_000, seed=3, spec=ProcessSpec(drift=1.0))
        assert steady[list(PARAMETERS)].equals(worn[list(PARAMETERS)])
        extra = worn["energy_kwh_per_t"] - steady["energy_kwh_per_t"]
        assert extra.iloc[-500:].mean() > extra.iloc[:500].mean() + 0.5  # wear raises energy

    def test_rejects_an_empty_table(self):
        with pytest.raises(ValueError, match="at least 1"):
            process_table(0)


class TestSimulateProcessCommand:
    @pytest.mark.parametrize("suffix", [".csv", ".parquet"])
    def test_writes_the_same_file_twice_for_the_same_seed(self, tmp_path, suffix):
        paths = [tmp_path / f"a{suffix}", tmp_path / f"b{suffix}"]
        for path in paths:
            args = ["simulate-process", "--rows", "300", "--seed", "4", "--out", str(path)]
            result = CliRunner().invoke(main, args)
            assert result.exit_code == 0, result.output
        read = pd.read_parquet if suffix == ".parquet" else pd.read_csv
        first, second = (read(path) for path in paths)
        assert len(first) == 300
        assert first.equals(second)
        expected = process_table(300, seed=4)
        assert np.allclose(first[list(TARGETS)], expected[list(TARGETS)])

    def test_help_explains_the_columns(self):
        result = CliRunner().invoke(main, ["simulate-process", "--help"])
        assert result.exit_code == 0
        for name in (*PARAMETERS, *TARGETS, "--drift", "--seed"):
            assert name in result.output
