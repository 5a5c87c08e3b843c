"""The speed bench's doctests (``bench/`` is outside pytest's ``testpaths``)."""

from __future__ import annotations

import doctest

import pytest

from bench.speed import latency, memory, procstat, results, stalls, stats

_FLAGS = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS


@pytest.mark.parametrize("module", [latency, memory, procstat, results, stalls, stats])
def test_module_examples_hold(module):
    outcome = doctest.testmod(module, optionflags=_FLAGS)
    assert outcome.attempted > 0 and outcome.failed == 0
