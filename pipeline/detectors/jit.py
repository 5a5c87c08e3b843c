"""numba's ``njit`` for the fleets' kernels, with its disk cache where one can be kept.

numba caches machine code next to the module (``__pycache__``) or in the user's cache
directory, and refuses to decorate at all when neither is writable (a read-only install run
by a user without a home, as in the container; ``NUMBA_CACHE_DIR`` names another place).
There the kernels compile afresh in each process instead (~2 s, before the service is ready).
Division follows numpy (a zero divisor gives inf or NaN, as the array path does), not Python.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba

__all__ = ["jit"]

_F = TypeVar("_F", bound=Callable[..., Any])


def jit(function: _F) -> _F:
    """``function`` compiled by numba (nopython, no fast-math), cached on disk if possible."""
    try:
        compiled = numba.njit(cache=True, nogil=True, error_model="numpy")(function)
    except RuntimeError:  # "cannot cache function ...: no locator available"
        compiled = numba.njit(nogil=True, error_model="numpy")(function)
    return cast(_F, compiled)  # a dispatcher: called as the function is
