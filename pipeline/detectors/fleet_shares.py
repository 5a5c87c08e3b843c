"""A fleet round's contributions: each reading's share of its score by channel.

Shares are made column-wise for a whole round and kept as :func:`shares_struct` objects,
which msgspec encodes to the same bytes as the ``{channel: share}`` dicts of the per-reading
detectors (:func:`~pipeline.detectors.base.shares`).

Examples
--------
>>> import numpy as np
>>> [shares_dict(s) for s in round_shares(("a", "b"), np.array([[1.0, 3.0], [0.0, 0.0]]))]
[{'a': 0.25, 'b': 0.75}, {}]
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import msgspec
import numpy as np

from pipeline.detectors.base import shares
from pipeline.detectors.fleet_math import Array, all_true, any_true, python_round, row_totals
from pipeline.row_decoding import field_names_fit

__all__ = ["Contribution", "round_shares", "shares_dict", "shares_struct"]

Contribution = dict[str, float] | msgspec.Struct
"""A reading's contributions: a dict, or a :func:`shares_struct` that encodes as one."""


@functools.lru_cache(maxsize=1024)  # one per channel layout, as BatchPath keeps at most
def shares_struct(names: tuple[str, ...]) -> type[msgspec.Struct] | None:
    """A struct of one float per name that msgspec encodes as the dict ``{name: value}``
    (in ``names`` order; the same bytes): a sixth of the time a dict takes to make.
    ``None`` if a name has a character msgspec does not take in a field name (a quote, a
    backslash or a control character): such channels keep dicts.

    >>> Shares = shares_struct(("a", "temp °C"))
    >>> encode = msgspec.json.encode
    >>> encode(Shares(0.25, 0.75)) == encode({"a": 0.25, "temp °C": 0.75})
    True
    >>> shares_dict(Shares(0.25, 0.75))
    {'a': 0.25, 'temp °C': 0.75}
    >>> shares_struct(('odd "name"',)) is None
    True
    """
    if not field_names_fit(names):
        return None
    fields = [f"share{j}" for j in range(len(names))]
    return msgspec.defstruct(
        "ChannelShares",
        [(field, float) for field in fields],
        rename=dict(zip(fields, names, strict=True)),
        namespace={"names": names},
        gc=False,
    )


def shares_dict(shares: Contribution) -> dict[str, float]:
    """The contributions as a dict (a :func:`shares_struct` converted)."""
    if isinstance(shares, dict):
        return shares
    return dict(zip(shares.names, msgspec.structs.astuple(shares), strict=True))  # type: ignore[attr-defined]


def round_shares(names: Sequence[str], terms: Array) -> list[Contribution]:
    """:func:`~pipeline.detectors.base.shares` of every row of non-negative ``terms`` (as
    :func:`shares_struct` objects where a row has any: they encode as the dicts would)."""
    if any("__" in name for name in names):  # features of one channel are summed first
        return [shares(dict(zip(names, row, strict=True))) for row in terms.tolist()]
    totals = row_totals(terms)
    positive = totals > 0.0
    made = shares_struct(tuple(names))
    make = made if made is not None else lambda *row: dict(zip(names, row, strict=True))
    if all_true(positive):  # the usual round: every row has shares
        ratios = python_round(terms / totals[:, None], 4)
        return list(map(make, *ratios.T.tolist()))  # columns: no list per row
    out: list[Contribution] = [{} for _ in range(terms.shape[0])]
    if any_true(positive):
        ratios = python_round(terms[positive] / totals[positive, None], 4)
        for index, row in zip(np.flatnonzero(positive).tolist(), ratios.tolist(), strict=True):
            out[index] = make(*row)
    return out
