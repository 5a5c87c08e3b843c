"""A fleet round's contributions: each reading's share of its score by channel.

Shares are made column-wise for a whole round and kept as :func:`shares_struct` objects,
which msgspec encodes to the same bytes as the ``{channel: share}`` dicts of the per-reading
detectors (:func:`~pipeline.detectors.base.shares`). A share has four decimals, so one of
10,001 values: each is held as its JSON text (:func:`share_texts`), which msgspec copies
instead of formatting the float again for every score (0.9-1.0 against 1.4 µs a reading of 8
channels to make the shares and encode the score).

Examples
--------
>>> import numpy as np
>>> [shares_dict(s) for s in round_shares(("a", "b"), np.array([[1.0, 3.0], [0.0, 0.0]]))]
[{'a': 0.25, 'b': 0.75}, {}]
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Sequence

import msgspec
import numpy as np

from pipeline.detectors.base import SHARE_DIGITS, shares
from pipeline.detectors.fleet_kernels import share_steps
from pipeline.detectors.fleet_math import Array, all_true, any_true, python_round, row_totals
from pipeline.row_decoding import field_names_fit

__all__ = ["Contribution", "round_shares", "share_texts", "shares_dict", "shares_struct"]

Contribution = dict[str, float] | msgspec.Struct
"""A reading's contributions: a dict, or a :func:`shares_struct` that encodes as one."""

_SHARE_STEPS = 10**SHARE_DIGITS
"""A share is ``k / 10_000`` for ``k`` in 0..10,000: :func:`share_texts` holds one text each."""

_COMPILED_STEPS = sys.version_info < (3, 12)
"""Whether :func:`~pipeline.detectors.fleet_kernels.share_steps` makes the shares (its totals
are summed as Python's ``sum`` sums before 3.12; from 3.12 on ``sum`` compensates)."""


@functools.lru_cache(maxsize=1024)  # one per channel layout, as BatchPath keeps at most
def shares_struct(names: tuple[str, ...]) -> type[msgspec.Struct] | None:
    """A struct of one share per name that msgspec encodes as the dict ``{name: value}``
    (in ``names`` order; the same bytes): a sixth of the time a dict takes to make. A share
    is a float or its JSON text (a :class:`msgspec.Raw` of :func:`share_texts`).
    ``None`` if a name has a character msgspec does not take in a field name (a quote, a
    backslash or a control character): such channels keep dicts.

    >>> Shares = shares_struct(("a", "temp °C"))
    >>> encode = msgspec.json.encode
    >>> encode(Shares(0.25, 0.75)) == encode({"a": 0.25, "temp °C": 0.75})
    True
    >>> shares_dict(Shares(0.25, 0.75)), shares_dict(Shares(*share_texts(np.array([0.25, 1.0]))))
    ({'a': 0.25, 'temp °C': 0.75}, {'a': 0.25, 'temp °C': 1.0})
    >>> shares_struct(('odd "name"',)) is None
    True
    """
    if not field_names_fit(names):
        return None
    fields = [f"share{j}" for j in range(len(names))]
    return msgspec.defstruct(
        "ChannelShares",
        [(field, float | msgspec.Raw) for field in fields],
        rename=dict(zip(fields, names, strict=True)),
        namespace={"names": names},
        gc=False,
    )


def shares_dict(shares: Contribution) -> dict[str, float]:
    """The contributions as a dict (a :func:`shares_struct` converted)."""
    if isinstance(shares, dict):
        return shares
    values = [_share_value(v) for v in msgspec.structs.astuple(shares)]
    return dict(zip(shares.names, values, strict=True))  # type: ignore[attr-defined]


def _share_value(share: float | msgspec.Raw) -> float:
    return float(bytes(share)) if isinstance(share, msgspec.Raw) else share


@functools.cache
def _texts() -> Array:
    """The JSON text of every share, ``k / 10_000`` at index ``k``, as msgspec writes it."""
    encode = msgspec.json.encode
    texts = np.empty(_SHARE_STEPS + 1, dtype=object)
    for k in range(_SHARE_STEPS + 1):
        texts[k] = msgspec.Raw(encode(round(k / _SHARE_STEPS, SHARE_DIGITS)))
    return texts


def share_texts(shares: Array) -> Array | None:
    """The JSON texts (:class:`msgspec.Raw`) of ``shares`` (rounded to 4 decimals, as Python
    rounds): the bytes msgspec writes for each float, or ``None`` if one is not in [0, 1].

    >>> [bytes(t) for t in share_texts(np.array([0.0, 0.0001, 0.125, 1.0]))]
    [b'0.0', b'0.0001', b'0.125', b'1.0']
    >>> share_texts(np.array([0.5, np.nan])) is None
    True
    """
    steps = np.rint(shares * _SHARE_STEPS)
    if not all_true((steps >= 0.0) & (steps <= _SHARE_STEPS)):  # (NaN: neither)
        return None
    texts: Array = _texts()[steps.astype(np.intp)]
    return texts


def round_shares(names: Sequence[str], terms: Array) -> list[Contribution]:
    """:func:`~pipeline.detectors.base.shares` of every row of non-negative ``terms`` (as
    :func:`shares_struct` objects where a row has any: they encode as the dicts would)."""
    if any("__" in name for name in names):  # features of one channel are summed first
        return [shares(dict(zip(names, row, strict=True))) for row in terms.tolist()]
    made = shares_struct(tuple(names))
    if made is not None and _COMPILED_STEPS:  # the usual round: one compiled loop
        steps, whole = share_steps(np.ascontiguousarray(terms, dtype=np.float64), _SHARE_STEPS)
        if whole:
            return list(map(made, *_texts()[steps].T.tolist()))
    totals = row_totals(terms)
    positive = totals > 0.0
    make = made if made is not None else lambda *row: dict(zip(names, row, strict=True))
    if all_true(positive):  # the usual round: every row has shares
        ratios = python_round(terms / totals[:, None], SHARE_DIGITS)
        texts = share_texts(ratios) if made is not None else None
        columns = (ratios if texts is None else texts).T.tolist()
        return list(map(make, *columns))  # columns: no list per row
    out: list[Contribution] = [{} for _ in range(terms.shape[0])]
    if any_true(positive):
        ratios = python_round(terms[positive] / totals[positive, None], SHARE_DIGITS)
        for index, row in zip(np.flatnonzero(positive).tolist(), ratios.tolist(), strict=True):
            out[index] = make(*row)
    return out
