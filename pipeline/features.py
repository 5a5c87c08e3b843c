"""Turn a Reading into the flat ``dict[str, float]`` a river model expects, or into a
fleet's row of values (:func:`row_getter`).

Examples
--------
>>> from pipeline.messages import Reading
>>> select_features(Reading("p", 0, {"a": 1.0, "b": 2.0}), channels=("b",))
{'b': 2.0}
>>> select_features(Reading("p", 0, {"b": 2.0, "a": 1.0}), channels=None)
{'a': 1.0, 'b': 2.0}
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Sequence

from pipeline.messages import Reading

__all__ = ["Row", "row_getter", "select_features"]

Row = Callable[[dict[str, float]], Iterable[float]]
"""A reading's values of the model's channels, in the fleet's (sorted) order."""


def select_features(reading: Reading, channels: Sequence[str] | None) -> dict[str, float]:
    """The configured channels present in ``reading`` (all of them, sorted, when ``None``)."""
    if channels is None:
        return dict(sorted(reading.values.items()))
    return {name: reading.values[name] for name in channels if name in reading.values}


def row_getter(channels: tuple[str, ...], as_is: bool) -> Row:
    """How to take the values of ``channels`` from a reading's values: all of them in
    their own order when that is the channels' order (``as_is``), else one C call
    (``itemgetter``) for two channels or more, and a Python lambda for one (an
    ``itemgetter`` of one name gives the value, not a tuple).

    >>> row_getter(("a", "b"), False)({"b": 2.0, "a": 1.0, "c": 3.0})
    (1.0, 2.0)
    >>> list(row_getter(("a",), True)({"a": 1.0})), row_getter(("a",), False)({"a": 1.0, "c": 0})
    ([1.0], (1.0,))
    """
    if as_is:
        return dict.values
    if len(channels) == 1:
        name = channels[0]
        return lambda values: (values[name],)
    return operator.itemgetter(*channels)
