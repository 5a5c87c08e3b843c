"""Shared fixtures: the datasets folder (``../shared/datasets`` or ``LINEWATCH_DATASETS``)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def datasets() -> Path:
    """The read-only NAB and SKAB corpora; a test that needs them fails loudly without them."""
    root = Path(os.environ.get("LINEWATCH_DATASETS", REPO.parent / "shared" / "datasets"))
    if not (root / "nab").is_dir() or not (root / "skab").is_dir():
        pytest.fail(f"datasets not found at {root}: set LINEWATCH_DATASETS to the folder")
    return root


@pytest.fixture
def nab_subset(datasets, tmp_path) -> Path:
    """A NAB data folder with two files: one with a window, one without any."""
    data = tmp_path / "nab"
    for name in (
        "realAdExchange/exchange-2_cpc_results.csv",
        "artificialNoAnomaly/art_daily_no_noise.csv",
    ):
        (data / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(datasets / "nab" / "data" / name, data / name)
    return data


@pytest.fixture
def skab_subset(datasets, tmp_path) -> Path:
    """A SKAB folder with one anomalous file."""
    data = tmp_path / "skab"
    data.mkdir()
    shutil.copy(datasets / "skab" / "valve1" / "1.csv", data / "1.csv")
    return data
