"""The kernels' decorator: numba's disk cache where it can be kept, compiled afresh where not."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import numba
import numpy as np
import pytest

from pipeline.detectors import jit as jit_module


def halve(values: Any) -> Any:
    return values / 0.0 + values * 0.5


def test_without_a_cache_location_the_kernel_compiles_uncached(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """numba refuses ``cache=True`` where no directory is writable (a read-only install, no
    home): the kernel is then compiled without its cache, not refused."""
    real = numba.njit
    asked: list[dict[str, Any]] = []

    def njit(**options: Any) -> Any:
        asked.append(options)
        if options.get("cache"):
            raise RuntimeError("cannot cache function 'halve': no locator available for file")
        return real(**options)

    monkeypatch.setattr(jit_module, "numba", SimpleNamespace(njit=njit))  # this module's only
    compiled = jit_module.jit(halve)
    assert [options.get("cache", False) for options in asked] == [True, False]
    # numpy's division (inf, not ZeroDivisionError), compiled, with no cache
    assert compiled(np.array([2.0]))[0] == np.inf
    assert cast(Any, compiled).stats.cache_path is None


def test_with_a_cache_location_the_kernel_is_cached() -> None:
    compiled = jit_module.jit(halve)
    assert compiled(np.array([-2.0]))[0] == -np.inf
    assert cast(Any, compiled).stats.cache_path is not None  # next to this test, here
