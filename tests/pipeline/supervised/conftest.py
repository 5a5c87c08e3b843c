"""Fixtures of the supervised tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pipeline.processor import Processor
from pipeline.settings import Settings


@pytest.fixture
def processor_factory() -> Callable[..., Processor]:
    """A processor with supervision on (horizon 20 s, no label delay, every reading buffered)."""

    def make(**supervised: object) -> Processor:
        options = {"enabled": True, "horizon_s": 20, "label_delay_s": 0, "sample_interval_s": 0}
        return Processor(
            Settings.load(None, alerts={"warmup": 20}, supervised={**options, **supervised})
        )

    return make
